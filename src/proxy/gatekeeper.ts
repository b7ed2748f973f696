import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionContext } from './context.js';
import type { Authority } from '../net/host.js';
import type { FirstBytesVerdict } from './tunnel.js';
import type { TunnelTargetOf } from '../net/name-addresses.js';

/** Which front door a connection came through. */
export type Door = ConnectionContext['via'];

/** What the gate makes of a new connection (or an absolute-form request) before anything is read from it. */
export type Admission =
  /** Refused, and already recorded: the transport only answers (407 asks for credentials). */
  | { kind: 'refuse'; status: 403 | 407; reason: string; decisionId: string }
  /** A guarded host: terminate TLS and hand every request to the gate. */
  | { kind: 'intercept'; provider: string; agent: string; decisionId: string }
  /** Not guarded, and egress allows it: tunnel it (or, for plain HTTP, forward it untouched). */
  | { kind: 'tunnel'; agent: string; decisionId: string }
  /**
   * Addressed to scopegate itself (a path-form request on the listener, or its own host name
   * through the proxy): every request goes to `handleOwn`, TLS terminated like a guarded host's.
   */
  | { kind: 'own'; agent: string; decisionId: string };

/** The tunnel the first bytes arrived in: what the client asked CONNECT for. */
export interface TunnelOrigin {
  /** The CONNECT target, normalised: a host name or an IP literal (IPv6 without brackets). */
  host: string;
  port: number;
  /** How a tunnel to another name would connect (--route), to check a server name against `host`. */
  tunnelTarget: TunnelTargetOf;
}

/** One connection-level decision (a refused connection, a tunnel when it closes), recorded once. */
export interface ConnectionRecord {
  msg: 'connect' | 'tunnel';
  decisionId: string | null;
  via: Door;
  agent: string | null;
  client: string | null;
  host: string | null;
  port: number | null;
  status: number | null;
  decision: 'deny' | 'tunnel' | 'intercept';
  rule: string;
  reason?: string;
  /** Tunnels: how it ended, for the metric. */
  result?: 'intercepted' | 'refused' | 'tunnelled' | 'failed';
  bytesUp?: number;
  bytesDown?: number;
  durationMs?: number;
  interceptedAs?: string;
  error?: string;
}

/**
 * All the transport asks of the rest of scopegate, and all it knows of it: the sockets, TLS,
 * tunnels and forwarding live in src/proxy/; who may call, which hosts are guarded, how a call is
 * judged and how a decision is recorded live behind this interface (src/gate/).
 */
export interface Gatekeeper {
  /**
   * One admission path for the front doors: identify the caller, route the host. `request` is
   * given for a plain-HTTP (absolute-form or path-form) request, which is recorded as a request.
   * The `direct` door (a path-form request) is scopegate's own API whatever `target` says.
   */
  admit(door: Door, target: Authority, proxyAuthorization: string | undefined, client: string | null, request?: { method: string; path: string }): Admission;
  /** What a tunnel's first client bytes are: relayed, intercepted as a guarded host, or refused. */
  firstBytes(origin: TunnelOrigin, buf: Buffer): FirstBytesVerdict;
  /** The provider guarding `host`, for a tunnel whose first bytes named one. */
  guarding(host: string): string | null;
  /** Judge and answer one request; `finished` is called once it has fully finished (shutdown waits for it). */
  handleRequest(ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, finished: () => void): void;
  /**
   * A request addressed to scopegate itself (ctx.own): its pre-flight API. Never forwarded;
   * `finished` is called once it has fully finished.
   */
  handleOwn(ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, finished: () => void): void;
  /** An Upgrade request on an intercepted connection (GraphQL over WebSocket). */
  handleUpgrade(ctx: ConnectionContext, req: IncomingMessage, socket: Duplex, head: Buffer): void;
  recordConnection(r: ConnectionRecord): void;
}
