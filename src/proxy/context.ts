import type { Authority } from '../net/host.js';

/** What is known about a client connection before any request on it is read. Plain data. */
export interface ConnectionContext {
  /** Short id for log correlation across the requests of one connection. */
  connectionId: string;
  clientAddress: string;
  /** How the connection reached us; `direct`: a path-form request to the listener itself (its own API). */
  via: 'connect' | 'absolute-form' | 'transparent' | 'direct';
  /** The target as the client named it (CONNECT authority, SNI or absolute URL), normalised. */
  target: Authority;
  scheme: 'https' | 'http';
  /** The guarding provider's name, or null for a host that is only subject to egress rules. */
  provider: string | null;
  /** Agent identity; `anonymous` without Proxy-Authorization. */
  agent: string;
  /** Addressed to scopegate itself (its pre-flight API), not to any upstream: nothing on it is forwarded. */
  own?: true;
}
