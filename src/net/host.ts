import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { BadAuthorityError } from '../errors.js';

/** A connection target, normalised once: lower-case, no trailing dot, IDNA (punycode), port explicit. */
export interface Authority {
  /** Host name or IP literal, normalised; IPv6 without brackets. */
  host: string;
  port: number;
}

const MAX_AUTHORITY_LENGTH = 300;

/**
 * Normalise a host name so that every spelling of one host compares equal:
 * case, a trailing dot, IDNA and bracketed IPv6 all fold to one form.
 * Returns null for something that is not a host name at all.
 */
export function normaliseHost(raw: string): string | null {
  const known = normalised.get(raw);
  if (known !== undefined) return known;
  const host = normaliseUncached(raw);
  if (raw.length > 300) return host;
  // a pure function of its input, asked for the same few names on every request (Host headers,
  // CONNECT targets, upstream connects); bounded, so hostile names cannot grow it
  if (normalised.size >= MAX_NORMALISED) normalised.clear();
  normalised.set(raw, host);
  return host;
}

const MAX_NORMALISED = 2048;
const normalised = new Map<string, string | null>();

function normaliseUncached(raw: string): string | null {
  let host = raw.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.length === 0 || host.length > 255) return null;
  if (isIP(host)) return host.toLowerCase();
  // domainToASCII lower-cases, applies IDNA (which maps dot look-alikes such as U+3002 to ".")
  // and returns '' for names it rejects. The one trailing dot of a fully qualified name is dropped
  // after that mapping; any other empty label ("evil.com..") is not a host name.
  let ascii = domainToASCII(host);
  if (ascii.endsWith('.')) ascii = ascii.slice(0, -1);
  if (!ascii || !/^[a-z0-9._-]+$/.test(ascii) || ascii.startsWith('.') || ascii.endsWith('.') || ascii.includes('..')) return null;
  return ascii;
}

/**
 * Parse a CONNECT target or a Host header value: `host:port`, `[v6]:port`, or a bare host when a
 * default port is given. Userinfo, paths and out-of-range ports are rejected, not guessed around.
 */
export function parseAuthority(raw: string, defaultPort?: number): Authority {
  if (raw.length === 0 || raw.length > MAX_AUTHORITY_LENGTH) {
    throw new BadAuthorityError(`target "${raw.slice(0, 64)}" is empty or too long`);
  }
  if (/[@/\\?#\s]/.test(raw)) {
    throw new BadAuthorityError(`target "${raw.slice(0, 64)}" must be host:port, without userinfo or path`);
  }
  let hostPart: string;
  let portPart: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) throw new BadAuthorityError(`target "${raw}" has an unclosed IPv6 bracket`);
    hostPart = raw.slice(1, close);
    const rest = raw.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) throw new BadAuthorityError(`target "${raw}" has text after the IPv6 literal`);
      portPart = rest.slice(1);
    }
    if (isIP(hostPart) !== 6) throw new BadAuthorityError(`target "${raw}" is not a valid IPv6 literal`);
  } else {
    const colon = raw.lastIndexOf(':');
    if (colon >= 0) {
      hostPart = raw.slice(0, colon);
      portPart = raw.slice(colon + 1);
      if (hostPart.includes(':')) throw new BadAuthorityError(`target "${raw}": IPv6 literals need [brackets]`);
    } else {
      hostPart = raw;
    }
  }
  let port: number;
  if (portPart === undefined) {
    if (defaultPort === undefined) throw new BadAuthorityError(`target "${raw}" has no port`);
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portPart)) throw new BadAuthorityError(`target "${raw}" has a bad port`);
    port = Number(portPart);
    if (port < 1 || port > 65535) throw new BadAuthorityError(`target "${raw}" has a port out of range`);
  }
  const host = normaliseHost(hostPart);
  if (host === null) throw new BadAuthorityError(`target "${raw.slice(0, 64)}" is not a valid host name`);
  return { host, port };
}

/** The authority as written in a URL or Host header (IPv6 bracketed, default port for the scheme left out). */
export function formatAuthority(a: Authority, scheme: 'http' | 'https'): string {
  const host = isIP(a.host) === 6 ? `[${a.host}]` : a.host;
  const defaultPort = scheme === 'https' ? 443 : 80;
  return a.port === defaultPort ? host : `${host}:${a.port}`;
}

/**
 * Host patterns as policies write them: an exact name, or `*.example.com` for any name below
 * example.com (not example.com itself). Patterns are normalised like hosts.
 */
export class HostMatcher {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(patterns: readonly string[]) {
    for (const p of patterns) {
      if (p.startsWith('*.')) {
        const base = normaliseHost(p.slice(2));
        if (base === null) throw new Error(`host pattern "${p}" is not a valid name`);
        this.suffixes.push(`.${base}`);
      } else {
        const host = normaliseHost(p);
        if (host === null) throw new Error(`host pattern "${p}" is not a valid name`);
        this.exact.add(host);
      }
    }
  }

  /** `host` must already be normalised. */
  matches(host: string): boolean {
    if (this.exact.has(host)) return true;
    for (const s of this.suffixes) if (host.endsWith(s)) return true;
    return false;
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.suffixes.length === 0;
  }
}
