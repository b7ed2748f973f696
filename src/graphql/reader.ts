import { analyseDocument, type RootField } from './document.js';
import { extractGraphQL } from './request.js';
import type { HttpRequestView } from '../inspect/request-view.js';
import type { Inspection, Operation } from '../inspect/operation.js';
import { PersistedQueries } from './persisted-queries.js';

/** How a GraphQL provider reads calls: HTTP requests in every transport form, and WebSocket payloads. */
export interface GraphQLReader {
  read(view: HttpRequestView): Promise<Inspection>;
  /** A `subscribe`/`start` message's payload: query text and variables (no persisted hashes over WebSocket). */
  readPayload(query: string, variables: Record<string, unknown> | undefined): Inspection;
}

/**
 * The shared GraphQL reading for providers whose API is GraphQL: extraction from the request
 * (src/inspect/graphql-request.ts), every root field of the document (graphql-document.ts), each
 * turned into an Operation by the provider's own catalogue. The persisted queries it has learnt
 * are its own; a reading that used one depends on more than the bytes and is marked uncacheable.
 */
export function graphqlReader(provider: string, classify: (field: RootField) => Operation, persisted = new PersistedQueries()): GraphQLReader {
  const failed = (reason: string): Inspection => ({ ok: false, reason, status: 400 });
  return {
    async read(view) {
      const extracted = await extractGraphQL(view);
      if (extracted.kind === 'unjudgeable') return failed(extracted.reason);
      if (extracted.kind === 'not-graphql') return { ok: true, operations: [unreadOperation(provider, view, extracted.reason)], transport: 'http' };
      const usedPersisted = extracted.payloads.some((p) => p.persistedHash !== undefined);
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
        for (const field of analysis.fields) operations.push(classify(field));
      }
      if (operations.length === 0) return failed('the request selects no field');
      const inspection: Inspection = { ok: true, operations, transport: extracted.transport };
      if (usedPersisted) inspection.cacheable = false;
      return inspection;
    },
    readPayload(query, variables) {
      const analysis = analyseDocument(query, variables);
      if (!analysis.ok) return failed(analysis.reason);
      if (analysis.fields.length === 0) return failed('the message selects no field');
      return { ok: true, operations: analysis.fields.map(classify), transport: 'websocket' };
    },
  };
}

/**
 * A request on a guarded host that is not GraphQL: an operation of class unknown, named by method
 * and path. It may change anything, so it counts as a write.
 */
export function unreadOperation(provider: string, view: HttpRequestView, reason: string): Operation {
  const path = view.url.split('?')[0] ?? '/';
  return {
    provider,
    type: 'http',
    effect: 'write',
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
