import type { ProviderAdapter } from '../providers/types.js';
import { analyseDocument } from './graphql-document.js';
import { extractGraphQL, type HttpRequestView } from './graphql-request.js';
import type { Inspection, Operation } from './operation.js';
import type { InspectionCache } from './inspection-cache.js';
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
 * or the reason it cannot be judged (which is never forwarded). With a cache, bytes inspected
 * before give the same (frozen) inspection without parsing them again.
 */
export async function inspectRequest(adapter: ProviderAdapter, view: HttpRequestView, persisted: PersistedQueries, cache?: InspectionCache): Promise<Inspection> {
  const key = cache?.keyFor(adapter.name, view) ?? null;
  if (!cache || key === null) return (await inspect(adapter, view, persisted)).inspection;
  const hit = cache.get(key);
  if (hit) return hit;
  const { inspection, usedPersisted } = await inspect(adapter, view, persisted);
  return inspection.ok && !usedPersisted ? cache.set(key, inspection) : inspection;
}

async function inspect(adapter: ProviderAdapter, view: HttpRequestView, persisted: PersistedQueries): Promise<{ inspection: Inspection; usedPersisted: boolean }> {
  const extracted = await extractGraphQL(view);
  if (extracted.kind === 'unjudgeable') return { inspection: { ok: false, reason: extracted.reason, status: 400 }, usedPersisted: false };
  if (extracted.kind === 'not-graphql') return { inspection: { ok: true, operations: [httpOperation(adapter.name, view, extracted.reason)], transport: 'http' }, usedPersisted: false };
  // what this inspection makes of a persisted hash depends on what the store has seen, not only on these bytes
  const usedPersisted = extracted.payloads.some((p) => p.persistedHash !== undefined);
  const failed = (reason: string): { inspection: Inspection; usedPersisted: boolean } => ({ inspection: { ok: false, reason, status: 400 }, usedPersisted });
  const operations: Operation[] = [];
  for (const payload of extracted.payloads) {
    let query = payload.query;
    if (payload.persistedHash !== undefined) {
      if (query !== undefined) {
        if (!persisted.learn(payload.persistedHash, query)) return failed('the persisted-query hash does not match the query text sent with it');
      } else {
        query = persisted.lookup(payload.persistedHash);
        if (query === undefined) return failed('a persisted-query hash without its text, which scopegate has not seen; send the full query');
      }
    }
    const analysis = analyseDocument(query ?? '', payload.variables);
    if (!analysis.ok) return failed(analysis.reason);
    for (const field of analysis.fields) operations.push(adapter.classify(field));
  }
  if (operations.length === 0) return failed('the request selects no field');
  return { inspection: { ok: true, operations, transport: extracted.transport }, usedPersisted };
}
