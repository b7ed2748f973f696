import { errorMessage } from '../../errors.js';
import type { EnvironmentRef, EnvironmentTraffic, Traffic } from '../../scope/scope.js';
import { NETWORK_TRAFFIC, httpTrafficQuery } from './queries.js';

/**
 * The third signal on Railway: who is using the target right now. Per reached environment, the
 * HTTP requests its bound services served (`httpMetrics`) and their network bytes (`metrics`
 * NETWORK_RX_GB / NETWORK_TX_GB), over the traffic window. Two lookups, made side by side: a
 * failure of one leaves the other's figure standing (1,204 requests prove use even when the bytes
 * cannot be read), and a figure nobody could read is absent, never zero.
 */

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Railway's metrics say GB without saying which: read as GiB, the larger, so that a doubt makes
 * the figure bigger (towards "active"), never smaller. Summing the samples does the same if they
 * turn out to be running totals rather than per-sample amounts.
 */
const BYTES_PER_GB = 1024 ** 3;
/** Aliases per httpMetrics document: a project with many services is asked in a few documents, side by side. */
const PAIRS_PER_QUERY = 100;

export type TrafficQuery = (name: string, query: string, variables: Record<string, unknown>, cacheKey: string) => Promise<Json>;

export interface TrafficAsk {
  projectId: string;
  environments: EnvironmentRef[];
  /** The services bound to the target, by environment id. */
  bound: ReadonlyMap<string, ReadonlySet<string>>;
  windowSeconds: number;
  /** Epoch ms the window ends at. */
  now: number;
}

/** The window as Railway's arguments: ISO dates, and a step fine enough to say "last 3 s ago" for a 15 min window. */
export function trafficWindow(windowSeconds: number, now: number): { startDate: string; endDate: string; stepSeconds: number } {
  return {
    startDate: new Date(now - windowSeconds * 1000).toISOString(),
    endDate: new Date(now).toISOString(),
    stepSeconds: Math.max(1, Math.ceil(windowSeconds / 300)),
  };
}

export async function railwayTraffic(ask: TrafficAsk, q: TrafficQuery): Promise<Traffic> {
  const win = trafficWindow(ask.windowSeconds, ask.now);
  const pairs: { envId: string; serviceId: string }[] = [];
  for (const e of ask.environments) for (const serviceId of [...(ask.bound.get(e.id) ?? [])].sort()) pairs.push({ envId: e.id, serviceId });
  const chunks: (typeof pairs)[] = [];
  for (let i = 0; i < pairs.length; i += PAIRS_PER_QUERY) chunks.push(pairs.slice(i, i + PAIRS_PER_QUERY));

  const http = Promise.all(
    chunks.map(async (chunk) => {
      const variables: Record<string, unknown> = { startDate: win.startDate, endDate: win.endDate, stepSeconds: win.stepSeconds };
      chunk.forEach((p, i) => {
        variables[`e${i}`] = p.envId;
        variables[`s${i}`] = p.serviceId;
      });
      const data = await q('ScopegateHttpTraffic', httpTrafficQuery(chunk.length), variables, `${ask.windowSeconds}|${chunk.map((p) => `${p.envId}/${p.serviceId}`).join(',')}`);
      return chunk.map((p, i) => ({ ...p, ...readHttpSamples(data[`h${i}`]) }));
    }),
  ).then((lists) => lists.flat());
  const network =
    pairs.length === 0
      ? Promise.resolve([] as unknown[])
      : q('ScopegateNetworkTraffic', NETWORK_TRAFFIC, { projectId: ask.projectId, startDate: win.startDate, endDate: win.endDate, sampleRateSeconds: 60 }, `${ask.projectId}|${ask.windowSeconds}`).then((d) => arr(d['metrics']));
  const [h, n] = await Promise.allSettled([http, network]);
  const bytes = n.status === 'fulfilled' ? readNetwork(n.value, ask.bound) : { problem: errorMessage(n.reason) };

  const environments: EnvironmentTraffic[] = ask.environments.map((environment) => {
    const out: EnvironmentTraffic = { environment };
    const mine = ask.bound.get(environment.id) ?? new Set<string>();
    const problems: string[] = [];
    if (mine.size === 0) {
      // nothing there serves the target: no lookup can add to zero
      return { environment, requests: 0, bytesIn: 0, bytesOut: 0 };
    }
    if (h.status === 'fulfilled') {
      const rows = h.value.filter((r) => r.envId === environment.id);
      out.requests = rows.reduce((a, r) => a + r.requests, 0);
      const last = Math.max(...rows.map((r) => r.lastTs ?? -Infinity));
      if (Number.isFinite(last)) out.lastRequestAt = new Date(last * 1000).toISOString();
    } else problems.push(`HTTP requests: ${errorMessage(h.reason)}`);
    if ('problem' in bytes) problems.push(`network bytes: ${bytes.problem}`);
    else {
      const b = bytes.byEnv.get(environment.id);
      out.bytesIn = b?.rx ?? 0;
      out.bytesOut = b?.tx ?? 0;
    }
    if (problems.length > 0) out.unknown = problems.join('; ');
    return out;
  });
  return { windowSeconds: ask.windowSeconds, measuredAt: new Date(ask.now).toISOString(), environments };
}

/** One httpMetrics answer: the requests counted and the last sample that had any. */
export function readHttpSamples(result: unknown): { requests: number; lastTs?: number } {
  let requests = 0;
  let lastTs: number | undefined;
  for (const s of arr(obj(result)['samples'])) {
    const v = Number(obj(s)['value']);
    const ts = Number(obj(s)['ts']);
    if (!Number.isFinite(v) || v <= 0) continue;
    requests += v;
    if (Number.isFinite(ts) && (lastTs === undefined || ts > lastTs)) lastTs = ts;
  }
  return { requests: Math.round(requests), ...(lastTs !== undefined ? { lastTs } : {}) };
}

/**
 * The metrics answer, summed per environment over the bound services. A result that is not broken
 * down by environment and service cannot be attributed, so the bytes are unknown rather than
 * counted against the wrong target.
 */
export function readNetwork(results: unknown[], bound: ReadonlyMap<string, ReadonlySet<string>>): { byEnv: Map<string, { rx: number; tx: number }> } | { problem: string } {
  const byEnv = new Map<string, { rx: number; tx: number }>();
  for (const r of results) {
    const tags = obj(obj(r)['tags']);
    const envId = tags['environmentId'];
    const serviceId = tags['serviceId'];
    if (typeof envId !== 'string' || typeof serviceId !== 'string') return { problem: 'the provider did not break the network metrics down by environment and service' };
    if (!bound.get(envId)?.has(serviceId)) continue;
    const sum = arr(obj(r)['values']).reduce<number>((a, v) => {
      const x = Number(obj(v)['value']);
      return Number.isFinite(x) && x > 0 ? a + x : a;
    }, 0);
    const e = byEnv.get(envId) ?? { rx: 0, tx: 0 };
    const measurement = obj(r)['measurement'];
    if (measurement === 'NETWORK_RX_GB') e.rx += sum * BYTES_PER_GB;
    else if (measurement === 'NETWORK_TX_GB') e.tx += sum * BYTES_PER_GB;
    byEnv.set(envId, e);
  }
  for (const e of byEnv.values()) {
    e.rx = Math.round(e.rx);
    e.tx = Math.round(e.tx);
  }
  return { byEnv };
}
