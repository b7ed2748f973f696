import type { HttpRequestView } from './request-view.js';
import type { Inspection } from './operation.js';

/**
 * Inspections of request bytes seen before. Agents repeat the same calls (polling a deployment's
 * status, listing services), and the same bytes always make the same operations, so parsing them
 * again buys nothing. The key is every byte the inspection reads — provider, method, URL, content
 * type and the decoded body, the body as latin1 (one character per byte, so two bodies that differ
 * in one byte never share a key) — so a call spelled differently is inspected afresh.
 *
 * Only what is a function of those bytes alone is kept: an inspection that used or taught a
 * persisted query depends on what the store had seen, and one that failed is cheap to redo. What
 * is kept is frozen, so no stage can change a cached operation under a later request.
 */
export class InspectionCache {
  private readonly entries = new Map<string, Inspection>();

  constructor(
    readonly maxEntries = 256,
    /** Larger bodies are rare, and would make every key as large. */
    readonly maxBodyBytes = 4096,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The key for this request, or null when it is not worth keeping. */
  keyFor(provider: string, view: HttpRequestView): string | null {
    // every field of the view is in the key: a field added to HttpRequestView fails to compile here
    const { method, url, contentType, body, ...rest } = view;
    const unkeyed: Record<string, never> = rest;
    void unkeyed;
    if (body.length > this.maxBodyBytes || url.length > this.maxBodyBytes) return null;
    // NUL cannot occur in a method, URL or header value Node accepts, so the fields cannot run together
    return `${provider}\0${method}\0${url}\0${contentType ?? ''}\0${body.toString('latin1')}`;
  }

  get(key: string): Inspection | undefined {
    return this.entries.get(key);
  }

  set(key: string, inspection: Inspection): Inspection {
    const frozen = deepFreeze(inspection);
    this.entries.set(key, frozen);
    // insertion order is age: the oldest go first (a hit does not refresh, which keeps hits a lookup only)
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return frozen;
  }
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
