import type { HttpRequestView } from '../../inspect/request-view.js';
import type { Inspection, Operation } from '../../inspect/operation.js';
import { charsetProblem, parseContentType } from '../../inspect/content-type.js';
import { parseParams, splitTarget } from '../../inspect/request-target.js';
import { NEON_API_BASE, type NeonCatalogue } from './catalogue.js';
import { NeonRouter } from './routes.js';
import { classifyNeon } from './classify.js';

type Problem = { problem: string };
const isProblem = (v: unknown): v is Problem => v !== null && typeof v === 'object' && 'problem' in (v as object);

/** Ids Neon's document defines as `^[a-z0-9-]{1,60}$`: a different spelling is refused, not folded. */
const ID_PARAMS = new Set(['project_id', 'branch_id', 'endpoint_id', 'snapshot_id', 'operation_id']);
const ID_SHAPE = /^[a-z0-9-]{1,60}$/;

/** Query keys that make some frameworks run another method (Rails, Laravel, Symfony…): nothing to judge. */
const METHOD_OVERRIDE_PARAMS = new Set(['_method', 'x-http-method-override', '_httpmethod']);

/**
 * The path as Neon's router sees it, in decoded segments below /api/v2, or why servers could
 * disagree on it. Each segment is percent-decoded once, strictly (a malformed or non-UTF-8 escape
 * is refused). Refused, because routers differ on them: an encoded "/" (one router splits on it,
 * another does not), dot segments and empty segments (doubled or trailing slashes: cleaned and
 * redirected by some, matched as an empty parameter by others), and a fixed word spelled in
 * another case (a case-insensitive router would run the operation a case-sensitive one refuses).
 */
export function pathSegments(path: string, fixedWords: ReadonlySet<string>): string[] | Problem {
  if (!path.startsWith('/')) return { problem: 'the request path does not start with "/"' };
  if (path === '/') return { problem: `not under Neon's API base ${NEON_API_BASE}` };
  const raw = path.split('/').slice(1);
  const out: string[] = [];
  for (const piece of raw) {
    let seg: string;
    try {
      seg = decodeURIComponent(piece);
    } catch {
      return { problem: `the path segment "${piece.slice(0, 60)}" has a malformed or non-UTF-8 percent-escape; routers decode it differently` };
    }
    if (seg === '') return { problem: 'the request path has an empty segment (a doubled or trailing "/"); routers clean, redirect or match it differently; send the path without it' };
    if (seg === '.' || seg === '..') return { problem: 'the request path has a dot segment ("." or ".."); routers resolve it differently; send the resolved path' };
    if (seg.includes('/') || seg.includes('\\')) return { problem: 'the request path has an encoded "/" or "\\" in a segment; routers split on it or not; leave it out' };
    if (/[\u0000-\u001f\u007f]/.test(seg)) return { problem: 'the request path has a control character in a segment' };
    if (seg !== piece && seg.includes('%')) return { problem: 'the request path is percent-encoded twice ("%25…"); a router that decodes twice reads another path' };
    out.push(seg);
  }
  const base = NEON_API_BASE.split('/').slice(1);
  for (let i = 0; i < base.length; i++) {
    if (out[i] !== base[i]) {
      if (out[i] !== undefined && out[i]!.toLowerCase() === base[i]) return { problem: `the path spells "${base[i]}" in another case; send it as ${NEON_API_BASE}` };
      return { problem: `not under Neon's API base ${NEON_API_BASE}` };
    }
  }
  const rest = out.slice(base.length);
  for (const seg of rest) {
    const lower = seg.toLowerCase();
    if (lower !== seg && fixedWords.has(lower)) return { problem: `the path segment "${seg.slice(0, 40)}" is a word of Neon's API in another case; a case-insensitive router would run what a case-sensitive one refuses; send it as "${lower}"` };
  }
  return rest;
}

/**
 * Query parameters as Neon's server reads them: each key once. A repeated key (Go's Query().Get
 * keeps the first, other stacks the last), a key spelled as an object or list (`hard_delete[]=`),
 * a method-override parameter, or a key that differs from a catalogue parameter only in case is
 * refused.
 */
export function queryArgs(query: string, known: readonly string[]): Record<string, string> | Problem {
  const params = parseParams(query, 'the query string');
  if (isProblem(params)) return params;
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const knownLower = new Map(known.map((k) => [k.toLowerCase(), k]));
  for (const [key, value] of params) {
    if (METHOD_OVERRIDE_PARAMS.has(key.toLowerCase())) return { problem: `the query parameter ${key.slice(0, 40)} asks some servers to run another method; send the method itself` };
    if (/[[\].]/.test(key)) return { problem: `the query parameter "${key.slice(0, 60)}" is spelled as an object or a list, which some servers build and others do not; send it as a plain key` };
    if (Object.prototype.hasOwnProperty.call(out, key)) return { problem: `the query parameter ${key.slice(0, 60)} is given more than once; servers disagree on which one counts; send it once` };
    const canonical = knownLower.get(key.toLowerCase());
    if (canonical !== undefined && canonical !== key) return { problem: `the query parameter "${key.slice(0, 60)}" is Neon's ${canonical} in another case; servers disagree on whether it counts; send it as ${canonical}` };
    out[key] = value;
  }
  return { ...out };
}

/**
 * A JSON body as Neon's (Go) server decodes it: UTF-8 only, no byte-order mark, one value.
 * Go's encoding/json matches object keys to fields case-insensitively (with Unicode folding: "ſ"
 * matches "s", "K" the Kelvin sign), so keys are compared lower-cased: two keys that fold to
 * the same name are refused (which one wins differs between decoders), keys with non-ASCII
 * letters are refused, and the judged body has every key lower-cased.
 */
export function jsonBody(body: Buffer, contentType: string | undefined): { value: unknown } | Problem {
  if (body.length === 0) return { value: undefined };
  const ct = parseContentType(contentType);
  if (isProblem(ct)) return ct;
  if (ct.type !== '' && ct.type !== 'application/json' && !/^application\/[a-z0-9.+-]*\+json$/.test(ct.type)) {
    return { problem: `the body is ${ct.type}; Neon's API takes application/json` };
  }
  const cs = charsetProblem(ct.params.get('charset'), body, 'the request body');
  if (cs) return { problem: cs };
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return { problem: 'the body starts with a byte-order mark, which some JSON decoders skip and others refuse; leave it out' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'), function (this: unknown, key: string, value: unknown) {
      return value;
    });
  } catch {
    return { problem: 'the body is not one JSON value' };
  }
  // duplicate keys vanish in JSON.parse: find them on the text itself
  const dup = duplicateKey(body.toString('utf8'));
  if (dup) return { problem: dup };
  return { value: foldKeys(parsed) };
}

function foldKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(foldKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k.toLowerCase()] = foldKeys(x);
  return out;
}

/**
 * Walk JSON text (already known to parse) and say why two keys of one object would be read as
 * one field, or why a key cannot be matched safely: equal after unescaping and ASCII
 * lower-casing, or holding non-ASCII characters.
 */
export function duplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = [];
  let i = 0;
  let expectKey = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j + 1;
      if (expectKey) {
        const key = JSON.parse(raw) as string;
        if (/[^\x20-\x7e]/.test(key)) return `the body has a key with non-ASCII or control characters ("${key.slice(0, 40)}"), which Go's JSON decoder may fold onto another field name; use the field's own name`;
        const folded = key.toLowerCase();
        const seen = stack[stack.length - 1]!;
        if (seen!.has(folded)) return `the body gives the key "${key.slice(0, 40)}" twice in one object (keys match case-insensitively in Neon's decoder); decoders disagree on which one counts; send it once`;
        seen!.add(folded);
        expectKey = false;
      }
      continue;
    }
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
    i++;
  }
  return null;
}

/**
 * Read a request to Neon's API into the one operation Neon would run, or why it cannot be judged.
 * HEAD is GET without a body and OPTIONS a CORS preflight: both read. A request that matches no
 * catalogue entry is an operation of class unknown.
 */
export function readNeon(catalogue: NeonCatalogue, router: NeonRouter, view: HttpRequestView): Inspection {
  const method = view.method.toUpperCase();
  const unjudgeable = (reason: string): Inspection => ({ ok: false, reason, status: 400 });
  const target = splitTarget(view.url);
  if ('problem' in target) return unjudgeable(target.problem);
  const segs = pathSegments(target.path, router.fixedWords);
  const body = jsonBody(view.body, view.contentType);
  if (isProblem(body)) return unjudgeable(body.problem);
  if (isProblem(segs)) {
    if (segs.problem.startsWith('not under')) return { ok: true, transport: 'rest', operations: [unknownOp(method, target.path, `${method} ${target.path.slice(0, 120)} is ${segs.problem}`)] };
    return unjudgeable(segs.problem);
  }
  const routeMethod = method === 'HEAD' ? 'GET' : method;
  if (method === 'OPTIONS') {
    const query = queryArgs(target.query, []);
    if (isProblem(query)) return unjudgeable(query.problem);
    return { ok: true, transport: 'rest', operations: [{ ...unknownOp(method, target.path, null), class: 'read', effect: 'read', name: `OPTIONS ${NEON_API_BASE}/${segs.join('/')}`, args: { query } }] };
  }
  const m = router.match(routeMethod, segs);
  if (!m) {
    const known = router.methodsAt(segs);
    const why = known.length > 0 ? `Neon's API has no ${method} here (it has ${known.join(', ')})` : `${method} ${target.path.slice(0, 120)} is not an operation of Neon's API v2 that scopegate knows`;
    return { ok: true, transport: 'rest', operations: [unknownOp(method, target.path, why)] };
  }
  for (const [name, v] of Object.entries(m.params)) {
    if (ID_PARAMS.has(name) && !ID_SHAPE.test(v)) return unjudgeable(`the ${name} "${v.slice(0, 60)}" is not a Neon id (lower-case letters, digits and "-"); a server that folds case would act on another one`);
  }
  const knownQuery = (m.entry.effects ?? []).filter((e) => e.startsWith('query.')).map((e) => e.slice(6));
  const query = queryArgs(target.query, knownQuery);
  if (isProblem(query)) return unjudgeable(query.problem);
  const args: Record<string, unknown> = { path: m.params, query, ...(body.value !== undefined && method !== 'HEAD' ? { body: body.value } : {}) };
  return { ok: true, transport: 'rest', operations: [classifyNeon(m.operationId, m.entry, method === 'HEAD' ? 'read' : null, args)] };
}

function unknownOp(method: string, path: string, reason: string | null): Operation {
  return {
    provider: 'neon',
    type: 'http',
    effect: method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'write',
    name: `${method} ${path.slice(0, 200)}`,
    alias: null,
    operationName: null,
    args: {},
    class: 'unknown',
    target: null,
    reach: null,
    flags: [],
    classReason: reason,
    payloadKind: null,
    conditional: false,
  };
}
