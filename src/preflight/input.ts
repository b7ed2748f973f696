import type { IncomingHttpHeaders } from 'node:http';
import { BadAuthorityError } from '../errors.js';
import { parseAuthority } from '../net/host.js';

/**
 * The pre-flight API's request bodies, read strictly: anything it cannot take is a 400 whose
 * message says what to send instead. Plain data out.
 */

/** A call described instead of sent: what /v1/check and check_call take. */
export interface CheckInput {
  host: string;
  port: number;
  /** Path and query, origin-form. */
  path: string;
  method: string;
  /** Lower-case names; the provider auth headers the call would carry, if any. */
  headers: IncomingHttpHeaders;
  /** The body as the call would send it. */
  body: Buffer;
}

/** A target to look up: what /v1/scope and scope_of take. */
export interface ScopeInput {
  provider: string;
  type: string;
  id: string;
  /** One of the provider's guarded hosts; default its first. */
  host: string | null;
  headers: IncomingHttpHeaders;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export const CHECK_USAGE =
  'send {"host": "<a guarded host>", "path": "<the path, e.g. /graphql/v2>", "method": "POST", "headers": {<the provider auth header(s) the call would carry, if any>}, "body": <the request body exactly as the call would send it: a JSON value, or a string>}';
export const SCOPE_USAGE = 'send {"provider": "<a guarded provider>", "type": "<the target\'s type, e.g. volume, service, environment>", "id": "<its id>"}';

const bad = <T>(message: string): Parsed<T> => ({ ok: false, message });

function jsonObject(raw: Buffer, usage: string): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    return bad(`the request body is not JSON; ${usage}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(`the request body is JSON but not an object; ${usage}`);
  return { ok: true, value: v as Record<string, unknown> };
}

/** Header names as Node gives them (lower case), string values only: a number or a list is a mistake to say, not to guess at. */
function headerMap(v: unknown, usage: string): Parsed<IncomingHttpHeaders> {
  if (v === undefined || v === null) return { ok: true, value: {} };
  if (typeof v !== 'object' || Array.isArray(v)) return bad(`"headers" must be an object of header names to string values; ${usage}`);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return bad(`"headers" has a name that is not a header name ("${name.slice(0, 40)}"); ${usage}`);
    if (typeof value !== 'string') return bad(`header "${name.slice(0, 40)}" must have a string value; ${usage}`);
    out[name.toLowerCase()] = value;
  }
  return { ok: true, value: out };
}

export function parseCheck(raw: Buffer): Parsed<CheckInput> {
  const o = jsonObject(raw, CHECK_USAGE);
  if (!o.ok) return o;
  const v = o.value;
  let hostText = v['host'];
  let path = v['path'];
  // a whole URL in "host" (or "url") is what an agent often has at hand: take its parts
  const url = typeof v['url'] === 'string' ? v['url'] : typeof hostText === 'string' && /^https?:\/\//i.test(hostText) ? hostText : null;
  if (url !== null) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return bad(`"${url.slice(0, 100)}" is not a URL; ${CHECK_USAGE}`);
    }
    hostText = u.host;
    path ??= `${u.pathname}${u.search}`;
  }
  if (typeof hostText !== 'string' || hostText === '') return bad(`"host" is missing; ${CHECK_USAGE}`);
  let authority;
  try {
    authority = parseAuthority(hostText, 443);
  } catch (err) {
    return bad(`"host" is not a host name (${err instanceof BadAuthorityError ? err.message : 'bad host'}); ${CHECK_USAGE}`);
  }
  if (typeof path !== 'string' || !path.startsWith('/')) return bad(`"path" must be the request path, starting with "/"; ${CHECK_USAGE}`);
  const method = v['method'] ?? 'POST';
  if (typeof method !== 'string' || !/^[A-Za-z]{1,16}$/.test(method)) return bad(`"method" must be an HTTP method such as POST; ${CHECK_USAGE}`);
  const headers = headerMap(v['headers'], CHECK_USAGE);
  if (!headers.ok) return headers;
  const b = v['body'];
  // a string is the body's text as it would be sent; any other JSON value is sent as its JSON
  const body = b === undefined || b === null ? Buffer.alloc(0) : Buffer.from(typeof b === 'string' ? b : JSON.stringify(b), 'utf8');
  const h = headers.value;
  if (body.length > 0 && h['content-type'] === undefined) h['content-type'] = 'application/json';
  return { ok: true, value: { host: authority.host, port: authority.port, path, method: method.toUpperCase(), headers: h, body } };
}

export function parseScope(raw: Buffer): Parsed<ScopeInput> {
  const o = jsonObject(raw, SCOPE_USAGE);
  if (!o.ok) return o;
  const v = o.value;
  for (const field of ['provider', 'type', 'id'] as const) {
    if (typeof v[field] !== 'string' || v[field] === '') return bad(`"${field}" is missing or not a string; ${SCOPE_USAGE}`);
  }
  if (v['host'] !== undefined && typeof v['host'] !== 'string') return bad(`"host", when given, must be one of the provider's guarded hosts; ${SCOPE_USAGE}`);
  const headers = headerMap(v['headers'], SCOPE_USAGE);
  if (!headers.ok) return headers;
  return { ok: true, value: { provider: String(v['provider']).toLowerCase(), type: String(v['type']), id: String(v['id']), host: typeof v['host'] === 'string' ? v['host'] : null, headers: headers.value } };
}
