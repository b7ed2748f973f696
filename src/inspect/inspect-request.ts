import type { ProviderAdapter } from '../providers/types.js';
import { analyseDocument } from './graphql-document.js';
import { extractGraphQL, type HttpRequestView } from './graphql-request.js';
import type { Inspection, Operation } from './operation.js';
import type { PersistedQueries } from './persisted-queries.js';

/** A request on a guarded host that is not GraphQL: an operation of class unknown, named by method and path. */
function httpOperation(provider: string, view: HttpRequestView, reason: string): Operation {
  const path = view.url.split('?')[0] ?? '/';
  return {
    provider,
    type: 'http',
    name: `${view.method.toUpperCase()} ${path.slice(0, 200)}`,
    alias: null,
    operationName: null,
    args: {},
    class: 'unknown',
    target: null,
    reach: null,
    flags: [],
    classReason: `not a GraphQL request (${reason})`,
    payloadKind: null,
    conditional: false,
  };
}

/**
 * The inspect stage: the exact list of operations the upstream would execute for this request,
 * or the reason it cannot be judged (which is never forwarded).
 */
export async function inspectRequest(adapter: ProviderAdapter, view: HttpRequestView, persisted: PersistedQueries): Promise<Inspection> {
  const extracted = await extractGraphQL(view);
  if (extracted.kind === 'unjudgeable') return { ok: false, reason: extracted.reason, status: 400 };
  if (extracted.kind === 'not-graphql') return { ok: true, operations: [httpOperation(adapter.name, view, extracted.reason)], transport: 'http' };
  const operations: Operation[] = [];
  for (const payload of extracted.payloads) {
    let query = payload.query;
    if (payload.persistedHash !== undefined) {
      if (query !== undefined) {
        if (!persisted.learn(payload.persistedHash, query)) {
          return { ok: false, reason: 'the persisted-query hash does not match the query text sent with it', status: 400 };
        }
      } else {
        query = persisted.lookup(payload.persistedHash);
        if (query === undefined) {
          return { ok: false, reason: 'a persisted-query hash without its text, which scopegate has not seen; send the full query', status: 400 };
        }
      }
    }
    const analysis = analyseDocument(query ?? '', payload.variables);
    if (!analysis.ok) return { ok: false, reason: analysis.reason, status: 400 };
    for (const field of analysis.fields) operations.push(adapter.classify(field));
  }
  if (operations.length === 0) return { ok: false, reason: 'the request selects no field', status: 400 };
  return { ok: true, operations, transport: extracted.transport };
}
