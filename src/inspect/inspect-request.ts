import type { ProviderAdapter } from '../providers/types.js';
import type { HttpRequestView } from './request-view.js';
import type { Inspection } from './operation.js';
import type { InspectionCache } from './inspection-cache.js';

/**
 * The inspect stage: the exact list of operations the upstream would execute for this request,
 * as the provider's adapter reads it, or the reason it cannot be judged (which is never
 * forwarded). With a cache, bytes inspected before give the same (frozen) inspection without
 * reading them again.
 */
export async function inspectRequest(adapter: ProviderAdapter, view: HttpRequestView, cache?: InspectionCache): Promise<Inspection> {
  const key = cache?.keyFor(adapter.name, view) ?? null;
  if (!cache || key === null) return adapter.read(view);
  const hit = cache.get(key);
  if (hit) return hit;
  const inspection = await adapter.read(view);
  return inspection.ok && inspection.cacheable !== false ? cache.set(key, inspection) : inspection;
}
