import type { IncomingHttpHeaders } from 'node:http';
import type { Policy } from '../policy/policy.js';

/**
 * Secret egress protection: a custody secret's value never leaves through an agent's request.
 * The agent holds only placeholders and scopegate adds the real token itself after this check, so
 * any occurrence of a custody secret in what the agent sent is a leak on its way out: as is,
 * base64 (standard or url-safe, padded or not, at any byte alignment, so inside "user:TOKEN" or
 * "Bearer TOKEN" encoded whole too), percent-encoded (any mix of %XX, either hex case) or
 * JSON-escaped (\uXXXX of any character).
 *
 * Everything is in the byte domain as latin1 strings, the way Node gives header values and the
 * request target: needles are the secrets' UTF-8 bytes, haystacks their bytes. Built once per
 * policy; a policy without credentials gets a scanner that returns at once.
 */

/** Which credential's secret was found, where, and in which form; never the value. */
export interface SecretHit {
  credential: string;
  /** `header NAME`, `request target`, `body`. */
  where: string;
  /** `as is`, `base64`, `percent-encoded`, `JSON-escaped` (the last two may wrap the others). */
  encoding: string;
}

interface Needle {
  credential: string;
  provider: string;
  /** The secret exactly as is (in its credential's own header, that is the token itself). */
  plain: boolean;
  text: string;
  encoding: string;
}

export interface SecretScanner {
  /** No credentials: nothing to look for, every scan returns null at once. */
  readonly empty: boolean;
  /** The first custody secret in one haystack (latin1 bytes), in any of its encodings, or null. */
  find(haystack: string, where: string, skip?: (credential: string, provider: string) => boolean): SecretHit | null;
}

const EMPTY: SecretScanner = { empty: true, find: () => null };
const scanners = new WeakMap<Policy, SecretScanner>();

/** The scanner for a policy's custody secrets: made once per policy object (a reload makes a new one). */
export function secretScanner(policy: Policy): SecretScanner {
  if (policy.credentials.size === 0) return EMPTY;
  let s = scanners.get(policy);
  if (!s) {
    s = buildScanner([...policy.credentials.values()].map((c) => ({ name: c.name, provider: c.provider, value: c.secret.reveal() })));
    scanners.set(policy, s);
  }
  return s;
}

/** A scanner for these secrets (the policy's, or a test's). */
export function buildScanner(secrets: readonly { name: string; provider: string; value: string }[]): SecretScanner {
  const needles: Needle[] = [];
  for (const { name, provider, value } of secrets) {
    if (value === '') continue;
    const bytes = Buffer.from(value, 'utf8');
    const add = (text: string, encoding: string, plain = false): void => {
      if (text.length > 0 && !needles.some((n) => n.credential === name && n.text === text)) needles.push({ credential: name, provider, plain, text, encoding });
    };
    add(bytes.toString('latin1'), 'as is', true);
    for (const core of base64Cores(bytes)) {
      add(core, 'base64');
      add(core.replace(/\+/g, '-').replace(/\//g, '_'), 'base64');
    }
  }
  if (needles.length === 0) return EMPTY;
  const match = (hay: string, skip?: (credential: string, provider: string) => boolean): Needle | null => {
    for (const n of needles) if (hay.includes(n.text) && !(skip && n.plain && skip(n.credential, n.provider))) return n;
    return null;
  };
  return {
    empty: false,
    find(haystack, where, skip) {
      let n = match(haystack, skip);
      if (n) return { credential: n.credential, where, encoding: n.encoding };
      // other spellings of the same bytes: only a haystack that has an escape can hold one
      const pct = haystack.includes('%') ? percentDecode(haystack) : null;
      if (pct !== null && (n = match(pct, skip))) return { credential: n.credential, where, encoding: `percent-encoded ${n.encoding}`.replace(' as is', '') };
      const json = haystack.includes('\\') ? jsonUnescape(haystack) : null;
      if (json !== null) {
        if ((n = match(json, skip))) return { credential: n.credential, where, encoding: `JSON-escaped ${n.encoding}`.replace(' as is', '') };
        const both = json.includes('%') ? percentDecode(json) : null;
        if (both !== null && (n = match(both, skip))) return { credential: n.credential, where, encoding: `JSON-escaped, percent-encoded ${n.encoding}`.replace(' as is', '') };
      }
      return null;
    },
  };
}

/**
 * The part of the secret's base64 that does not depend on what surrounds it, for each of the three
 * byte alignments it can have inside a longer encoded string: the characters whose six bits are
 * all the secret's. Any base64 text that encodes the secret (alone, padded or not, or within more
 * bytes) contains one of them.
 */
function base64Cores(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64').replace(/=+$/, '');
    const first = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * (k + bytes.length)) / 6); // characters [first, end) are the secret's alone
    const core = enc.slice(first, end);
    if (core.length > 0) out.push(core);
  }
  return out;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** %XX (either case) to the byte; anything else kept as it is. */
function percentDecode(s: string): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('%'); i !== -1; i = s.indexOf('%', i + 1)) {
    const hex = s.slice(i + 1, i + 3);
    if (!HEX.test(hex)) continue;
    out += s.slice(last, i) + String.fromCharCode(parseInt(hex, 16));
    last = i + 3;
    i += 2;
  }
  return out + s.slice(last);
}

const SIMPLE: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** JSON string escapes to bytes (\uXXXX as the character's UTF-8 bytes, surrogate pairs joined); anything else kept. */
function jsonUnescape(s: string): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('\\'); i !== -1 && i + 1 < s.length; i = s.indexOf('\\', i)) {
    const c = s[i + 1]!;
    if (c === 'u') {
      const hex = s.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        i += 2;
        continue;
      }
      let code = parseInt(hex, 16);
      let len = 6;
      if (code >= 0xd800 && code < 0xdc00 && s[i + 6] === '\\' && s[i + 7] === 'u' && /^[dD][c-fC-F][0-9a-fA-F]{2}$/.test(s.slice(i + 8, i + 12))) {
        code = 0x10000 + ((code - 0xd800) << 10) + (parseInt(s.slice(i + 8, i + 12), 16) - 0xdc00);
        len = 12;
      }
      out += s.slice(last, i) + (code < 0x80 ? String.fromCharCode(code) : Buffer.from(String.fromCodePoint(code), 'utf8').toString('latin1'));
      last = i + len;
      i += len;
    } else if (c in SIMPLE) {
      out += s.slice(last, i) + SIMPLE[c]!;
      last = i + 2;
      i += 2;
    } else {
      i += 2;
    }
  }
  return out + s.slice(last);
}

/**
 * Every part of an agent's request that scopegate reads: each header name and value as sent
 * (rawHeaders, so repeated headers each count), the request target, and the decoded body when it
 * was read. `own` exempts a credential's secret, as is, in the headers its provider takes tokens in
 * toward that provider (only where custody already let a real token through: credentials_required: false).
 */
export function findSecret(
  scanner: SecretScanner,
  request: { rawHeaders: readonly string[]; target: string; body?: Buffer | null },
  own?: { provider: string; headers: ReadonlySet<string> },
): SecretHit | null {
  if (scanner.empty) return null;
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i]!;
    const where = `header ${name.toLowerCase()}`;
    const exempt = own && own.headers.has(name.toLowerCase()) ? (_c: string, provider: string) => provider === own.provider : undefined;
    const hit = scanner.find(name, where) ?? scanner.find(request.rawHeaders[i + 1] ?? '', where, exempt);
    if (hit) return hit;
  }
  const hit = scanner.find(request.target, 'request target');
  if (hit) return hit;
  if (request.body && request.body.length > 0) return scanner.find(request.body.toString('latin1'), 'body');
  return null;
}

/** The same check for headers given as an object (tests, callers without rawHeaders). */
export function rawHeadersOf(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) for (const x of Array.isArray(v) ? v : [v ?? '']) out.push(k, String(x));
  return out;
}
