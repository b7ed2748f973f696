import { createHmac, randomBytes } from 'node:crypto';
import type { Upstream } from '../proxy/upstream.js';
import { LookupError } from '../errors.js';

/** A credential to look up with: the header the agent used (or the resolver's own), and a keyed hash. */
export interface Credential {
  header: string;
  value: string;
  /** Provider-specific kind (e.g. "bearer", "project"): says how much of a project it can see. */
  kind: string;
  /** Keyed hash of the value: tells credentials apart for caching, never reversible, never logged raw. */
  id: string;
}

const HASH_KEY = randomBytes(32);

export function credentialId(value: string): string {
  return createHmac('sha256', HASH_KEY).update(value).digest('hex').slice(0, 16);
}

export interface LookupOptions {
  /** Reuse an answer this young for non-destructive decisions; destructive ones always ask live. */
  cacheTtlMs: number;
  maxCacheEntries?: number;
}

export interface LookupRecord {
  name: string;
  ms: number;
  cached: boolean;
}

interface CacheEntry {
  at: number;
  data: Record<string, unknown>;
}

/** One lookup's request: a GraphQL query (POST) or a REST read (GET), with its name for logs. */
type LookupRequest = { kind: 'graphql'; query: string; variables: Record<string, unknown> } | { kind: 'rest'; method: 'GET'; path: string };

/**
 * Live lookups against a provider, through the same upstream pool (routes, CA) as the calls
 * themselves: bounded by the caller's deadline, answers cached briefly per credential and
 * request, identical lookups in flight joined. Provider-agnostic: adapters write the queries
 * (GraphQL) or the paths (REST).
 */
export class LiveLookups {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Record<string, unknown>>>();
  readonly maxCacheEntries: number;

  constructor(
    private readonly upstream: Upstream,
    private readonly options: LookupOptions,
  ) {
    this.maxCacheEntries = options.maxCacheEntries ?? 5000;
  }

  /** Forget what this credential's lookups said: a write it just made may have changed it. */
  invalidate(credential: Credential): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${credential.id}|`)) this.cache.delete(key);
  }

  /** A GraphQL query; the answer's `data`. An answer with errors is no answer. */
  query(
    host: string,
    port: number,
    path: string,
    credential: Credential,
    name: string,
    query: string,
    variables: Record<string, unknown>,
    opts: { signal: AbortSignal; fresh: boolean; log: LookupRecord[]; cacheKey?: string },
  ): Promise<Record<string, unknown>> {
    // a query over a moving time window names what it asks in cacheKey: its dates differ on every call
    return this.lookup(host, port, path, credential, name, `${name}|${opts.cacheKey ?? JSON.stringify(variables)}`, { kind: 'graphql', query, variables }, opts);
  }

  /** A REST read (GET path); the answer's JSON object. */
  get(host: string, port: number, path: string, credential: Credential, name: string, opts: { signal: AbortSignal; fresh: boolean; log: LookupRecord[] }): Promise<Record<string, unknown>> {
    return this.lookup(host, port, path, credential, name, `${name}|GET`, { kind: 'rest', method: 'GET', path }, opts);
  }

  private async lookup(
    host: string,
    port: number,
    path: string,
    credential: Credential,
    name: string,
    what: string,
    request: LookupRequest,
    opts: { signal: AbortSignal; fresh: boolean; log: LookupRecord[] },
  ): Promise<Record<string, unknown>> {
    const key = `${credential.id}|${host}:${port}${path}|${what}`;
    const started = performance.now();
    if (!opts.fresh) {
      const hit = this.cache.get(key);
      if (hit && Date.now() - hit.at <= this.options.cacheTtlMs) {
        opts.log.push({ name, ms: 0, cached: true });
        return hit.data;
      }
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetch(host, port, path, credential, name, request, opts.signal).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const data = await abortable(pending, opts.signal, name);
    opts.log.push({ name, ms: Math.round((performance.now() - started) * 10) / 10, cached: false });
    this.cache.delete(key);
    this.cache.set(key, { at: Date.now(), data });
    // entries are in insertion (= time) order: drop the expired ones from the front, so answers
    // nobody may use any more do not sit in memory until the size bound pushes them out
    const oldest = Date.now() - this.options.cacheTtlMs;
    for (const [k, e] of this.cache) {
      if (e.at >= oldest && this.cache.size <= this.maxCacheEntries) break;
      this.cache.delete(k);
    }
    return data;
  }

  private async fetch(host: string, port: number, path: string, credential: Credential, name: string, request: LookupRequest, signal: AbortSignal): Promise<Record<string, unknown>> {
    const origin = port === 443 ? `https://${host}` : `https://${host}:${port}`;
    let lastError: unknown;
    // one retry for a connection that failed before any answer: the deadline bounds both
    for (let attempt = 0; attempt < 2; attempt++) {
      if (signal.aborted) break;
      try {
        const headers = { accept: 'application/json', [credential.header]: credential.value, 'x-source': 'scopegate-scope-lookup' };
        const res = await this.upstream.request(
          request.kind === 'graphql'
            ? { origin, path, method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ query: request.query, variables: request.variables, operationName: name }), signal }
            : { origin, path: request.path, method: 'GET', headers, signal },
        );
        const text = await res.body.text();
        if (res.statusCode >= 500 && attempt === 0) {
          lastError = new LookupError(`${name}: the provider answered HTTP ${res.statusCode}`);
          continue;
        }
        if (res.statusCode !== 200) throw new LookupError(`${name}: the provider answered HTTP ${res.statusCode}`);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new LookupError(`${name}: the provider's answer is not JSON`);
        }
        return request.kind === 'graphql' ? graphqlData(name, body) : restObject(name, body);
      } catch (err) {
        if (err instanceof LookupError) throw err;
        lastError = err;
        if (signal.aborted) break;
      }
    }
    if (signal.aborted) throw new LookupError(`${name}: timed out`);
    const e = lastError as { code?: string; message?: string };
    throw new LookupError(`${name}: ${e?.code ?? e?.message ?? 'failed'}`);
  }
}

function graphqlData(name: string, answer: unknown): Record<string, unknown> {
  const body = answer as { data?: Record<string, unknown> | null; errors?: { message?: string }[] } | null;
  if (body?.errors && body.errors.length > 0) {
    // a partial answer is no answer: what is missing may be exactly what matters
    throw new LookupError(`${name}: the provider said "${String(body.errors[0]?.message ?? 'error').slice(0, 120)}"`);
  }
  if (!body?.data) throw new LookupError(`${name}: the provider's answer has no data`);
  return body.data;
}

function restObject(name: string, answer: unknown): Record<string, unknown> {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw new LookupError(`${name}: the provider's answer is not a JSON object`);
  return answer as Record<string, unknown>;
}

function abortable<T>(p: Promise<T>, signal: AbortSignal, name: string): Promise<T> {
  if (signal.aborted) return Promise.reject(new LookupError(`${name}: timed out`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new LookupError(`${name}: timed out`));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
