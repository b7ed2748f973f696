import { Response } from 'undici';
import type { HttpRequestView } from '../inspect/request-view.js';
import { charsetProblem, parseContentType, type ContentType } from '../inspect/content-type.js';
import { checkMultipartParts } from '../inspect/multipart-parts.js';
import { GRAPHQL_PARAMS, graphqlParamsIn, parseParams, splitTarget } from '../inspect/request-target.js';

/** One GraphQL request as the server will see it, whatever transport form carried it. */
export interface GraphQLPayload {
  query: string | undefined;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
  /** sha256 of an automatic persisted query, when the client sent one. */
  persistedHash: string | undefined;
}

export type Extracted =
  | { kind: 'graphql'; payloads: GraphQLPayload[]; transport: string }
  /** Readable HTTP, but not a GraphQL request: judged as an unknown operation. */
  | { kind: 'not-graphql'; reason: string }
  /** Meant as GraphQL (or claims to be) but cannot be read: never forwarded. */
  | { kind: 'unjudgeable'; reason: string };


const MAX_BATCH = 100;

function unjudgeable(reason: string): Extracted {
  return { kind: 'unjudgeable', reason };
}

/** JSON the way a JavaScript server reads it: JSON.parse keeps the last of duplicate keys. */
function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

/** Turn one decoded JSON object into a payload, or say why it is not one. */
function payloadFrom(obj: unknown, where: string): GraphQLPayload | string {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return `${where} is not a JSON object`;
  const o = obj as Record<string, unknown>;
  const query = own(o, 'query');
  if (query !== undefined && query !== null && typeof query !== 'string') return `${where}.query is not a string`;
  let variables = own(o, 'variables');
  if (typeof variables === 'string') {
    // some clients double-encode variables; servers that accept it parse the string
    const parsed = parseJson(variables);
    if (!parsed.ok) return `${where}.variables is a string that is not JSON`;
    variables = parsed.value;
  }
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) {
    return `${where}.variables is not an object`;
  }
  const operationName = own(o, 'operationName');
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return `${where}.operationName is not a string`;
  let persistedHash: string | undefined;
  const ext = own(o, 'extensions');
  if (ext !== undefined && ext !== null) {
    if (typeof ext !== 'object' || Array.isArray(ext)) return `${where}.extensions is not an object`;
    const pq = own(ext as Record<string, unknown>, 'persistedQuery');
    if (pq !== undefined && pq !== null) {
      const hash = typeof pq === 'object' ? own(pq as Record<string, unknown>, 'sha256Hash') : undefined;
      if (typeof hash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hash)) return `${where}.extensions.persistedQuery has no valid sha256Hash`;
      persistedHash = hash.toLowerCase();
    }
  }
  if ((query === undefined || query === null) && persistedHash === undefined) return `${where} has no query`;
  return {
    query: typeof query === 'string' ? query : undefined,
    variables: (variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: typeof operationName === 'string' ? operationName : undefined,
    persistedHash,
  };
}

function fromJsonValue(value: unknown, transport: string): Extracted {
  if (Array.isArray(value)) {
    if (value.length === 0) return unjudgeable('the batch is an empty array');
    if (value.length > MAX_BATCH) return unjudgeable(`the batch holds ${value.length} operations; scopegate judges at most ${MAX_BATCH}`);
    const payloads: GraphQLPayload[] = [];
    for (let i = 0; i < value.length; i++) {
      const p = payloadFrom(value[i], `body[${i}]`);
      if (typeof p === 'string') return unjudgeable(p);
      payloads.push(p);
    }
    return { kind: 'graphql', payloads, transport: `${transport} batch` };
  }
  const p = payloadFrom(value, 'body');
  if (typeof p === 'string') return unjudgeable(p);
  return { kind: 'graphql', payloads: [p], transport };
}

function fromParams(params: URLSearchParams, transport: string): Extracted {
  for (const k of GRAPHQL_PARAMS) {
    if (params.getAll(k).length > 1) return unjudgeable(`the parameter "${k}" is given more than once`);
  }
  const obj: Record<string, unknown> = {};
  const query = params.get('query');
  if (query !== null) obj['query'] = query;
  const variables = params.get('variables');
  if (variables !== null && variables !== '') {
    const parsed = parseJson(variables);
    if (!parsed.ok) return unjudgeable('the variables parameter is not JSON');
    obj['variables'] = parsed.value;
  }
  const op = params.get('operationName');
  if (op !== null && op !== '') obj['operationName'] = op;
  const ext = params.get('extensions');
  if (ext !== null && ext !== '') {
    const parsed = parseJson(ext);
    if (!parsed.ok) return unjudgeable('the extensions parameter is not JSON');
    obj['extensions'] = parsed.value;
  }
  return fromJsonValue(obj, transport);
}

/** Media types whose body is text a server may read as a GraphQL request. */
const TEXT_TYPES = new Set(['application/json', 'application/graphql-response+json', 'application/graphql+json', 'application/graphql', 'application/x-www-form-urlencoded', 'text/plain', '']);

/**
 * Find every GraphQL request an HTTP request carries, in any form a GraphQL server accepts:
 * POST JSON (one object or a batch array), application/graphql, GET query parameters,
 * form-encoded, multipart (the GraphQL multipart request spec), or JSON under text/plain or no
 * content type. A request that servers could read in two ways (parameters in the URL and the body,
 * a charset other than UTF-8, a target servers split differently) is unjudgeable, not guessed.
 */
export async function extractGraphQL(req: HttpRequestView): Promise<Extracted> {
  const target = splitTarget(req.url);
  if ('problem' in target) return unjudgeable(target.problem);
  const params = parseParams(target.query, 'the query string');
  if ('problem' in params) return unjudgeable(params.problem);
  const inUrl = graphqlParamsIn(params, 'the query string');
  if ('problem' in inUrl) return unjudgeable(inUrl.problem);
  const urlCarriesGraphQL = inUrl.names.size > 0;
  const method = req.method.toUpperCase();
  const contentType = parseContentType(req.contentType);
  if ('problem' in contentType) return unjudgeable(contentType.problem);
  const type = contentType.type;

  if (method === 'GET' || method === 'HEAD') {
    // a server that reads a body on GET would run it, one that does not would run the URL's query
    if (req.body.length > 0) return unjudgeable(`a ${method} request with a body: servers disagree on whether it counts; send the body with POST`);
    if (!urlCarriesGraphQL) return { kind: 'not-graphql', reason: `${method} without a query parameter` };
    return fromParams(params, 'GET query string');
  }
  if (method !== 'POST') {
    if (req.body.length === 0 && !urlCarriesGraphQL) return { kind: 'not-graphql', reason: `${method} request` };
    return unjudgeable(`GraphQL over ${method} is not something scopegate reads`);
  }
  // Some servers read a POST's operationName or variables from the URL, and let them win over the
  // body's; others ignore the URL. Judging one place would let an approval shown for one target
  // execute another, so parameters in both places are refused.
  if (urlCarriesGraphQL) {
    return unjudgeable(`the POST carries GraphQL parameters (${[...inUrl.names].join(', ')}) in the URL as well as a body; servers disagree on which wins; send them in the body only`);
  }
  if (req.body.length > 0 && type !== 'multipart/form-data') {
    const problem = charsetProblem(contentType.params.get('charset'), req.body, 'the body');
    // a body scopegate would not read as GraphQL anyway stays an unknown request, unless its charset is declared otherwise
    if (problem && (TEXT_TYPES.has(type) || contentType.params.has('charset'))) return unjudgeable(problem);
  }

  const text = (): string => req.body.toString('utf8');
  switch (type) {
    case 'application/json':
    case 'application/graphql-response+json':
    case 'application/graphql+json': {
      const parsed = parseJson(text());
      if (!parsed.ok) return unjudgeable('the body is not valid JSON');
      return fromJsonValue(parsed.value, 'POST JSON');
    }
    case 'application/graphql':
      return { kind: 'graphql', payloads: [{ query: text(), variables: undefined, operationName: undefined, persistedHash: undefined }], transport: 'application/graphql' };
    case 'application/x-www-form-urlencoded': {
      const form = parseParams(text(), 'the form body');
      if ('problem' in form) return unjudgeable(form.problem);
      const inForm = graphqlParamsIn(form, 'the form body');
      if ('problem' in inForm) return unjudgeable(inForm.problem);
      if (form.has('_charset_')) return unjudgeable('the form names its own charset (_charset_), which some servers honour; send UTF-8 without it');
      if (!inForm.names.has('query') && !inForm.names.has('extensions')) return { kind: 'not-graphql', reason: 'a form without a query field' };
      return fromParams(form, 'form-encoded');
    }
    case 'multipart/form-data':
      return fromMultipart(req, contentType);
    case '':
    case 'text/plain': {
      if (req.body.length === 0) return { kind: 'not-graphql', reason: 'an empty POST' };
      const parsed = parseJson(text());
      if (!parsed.ok) return unjudgeable(`a ${type || 'untyped'} body that is not JSON`);
      return fromJsonValue(parsed.value, `POST ${type || 'untyped'} JSON`);
    }
    default: {
      // a body the inspector cannot read as GraphQL; if it parses as JSON, a lenient server might still run it
      const parsed = parseJson(text());
      if (parsed.ok) return unjudgeable(`a JSON body sent as ${type}`);
      return { kind: 'not-graphql', reason: `a ${type} body` };
    }
  }
}

/** The GraphQL multipart request spec: `operations` (JSON), `map`, then files. */
async function fromMultipart(req: HttpRequestView, contentType: ContentType): Promise<Extracted> {
  const parts = checkMultipartParts(req.body, contentType.params.get('boundary'));
  if (parts) return unjudgeable(parts);
  let form;
  try {
    form = await new Response(req.body, { headers: { 'content-type': req.contentType ?? '' } }).formData();
  } catch {
    return unjudgeable('the multipart body cannot be parsed');
  }
  const ops = form.getAll('operations');
  if (ops.length !== 1 || typeof ops[0] !== 'string') return unjudgeable('the multipart body needs exactly one "operations" field');
  const parsed = parseJson(ops[0]);
  if (!parsed.ok) return unjudgeable('the multipart "operations" field is not JSON');
  const extracted = fromJsonValue(parsed.value, 'multipart');
  if (extracted.kind !== 'graphql') return extracted;
  const map = form.get('map');
  if (map !== null) {
    const m = typeof map === 'string' ? parseJson(map) : { ok: false as const };
    if (!m.ok || typeof m.value !== 'object' || m.value === null || Array.isArray(m.value)) return unjudgeable('the multipart "map" field is not a JSON object');
    // files may only stand in for variables: a file spliced into the query text would go unjudged
    for (const paths of Object.values(m.value as Record<string, unknown>)) {
      if (!Array.isArray(paths)) return unjudgeable('a multipart map entry is not a list of paths');
      for (const path of paths) {
        if (typeof path !== 'string' || !/^(\d+\.)?variables\./.test(path)) return unjudgeable(`the multipart map points a file at "${String(path)}", not at a variable`);
      }
    }
  }
  return extracted;
}
