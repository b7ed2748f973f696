import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * The V8 heap in use just after the latest full (mark-compact) GC: what is really retained. Heap
 * used at a random moment swings with garbage not yet collected, and RSS with how much heap V8
 * chose to reserve; this is the number that grows when something leaks. One observer per process.
 */
let heapAfterFullGc = 0;
let gcObserver: PerformanceObserver | null = null;
function observeFullGcs(): void {
  if (gcObserver) return;
  // until the first full GC, the heap in use now (prom-client writes NaN as "Nan", which scrapers refuse)
  heapAfterFullGc = getHeapStatistics().used_heap_size;
  gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (((e as unknown as { detail?: { kind?: number } }).detail)?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
        heapAfterFullGc = getHeapStatistics().used_heap_size;
        return;
      }
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

/** Everything scopegate counts, on a registry of its own (no global state shared with embedders). */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'host' | 'method' | 'decision'>;
  readonly requestSeconds: Histogram<'decision'>;
  readonly tunnels: Counter<'result'>;
  readonly openConnections: Gauge;
  readonly openTunnels: Gauge;
  readonly leafCacheSize: Gauge;
  readonly leafMintSeconds: Histogram;

  /** Guarded hosts with a label of their own; past the bound, `other-guarded`. */
  private readonly hostLabels = new Set<string>();
  static readonly MAX_HOST_LABELS = 100;

  /**
   * The `host` label for a guarded host. A policy can guard a wildcard (`*.example.com`), and an
   * agent can then name any number of hosts under it: each would be a new series in every scrape,
   * for as long as the process runs. The first hundred keep their names.
   */
  hostLabel(host: string): string {
    if (this.hostLabels.has(host)) return host;
    if (this.hostLabels.size >= Metrics.MAX_HOST_LABELS) return 'other-guarded';
    this.hostLabels.add(host);
    return host;
  }

  /** Set by whoever owns the store; read when /metrics is scraped. */
  storeSource: () => { state: 'up' | 'down'; since: number } | null = () => null;

  /** Set by whoever owns the leaf cache; read when /metrics is scraped. */
  leafCacheSource: () => number = () => 0;

  constructor() {
    const self = this;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'scopegate_process_' });
    this.requests = new Counter({
      name: 'scopegate_requests_total',
      help: 'HTTP requests judged on intercepted (guarded) hosts and plain-HTTP proxy requests, by outcome (host: a guarded host, its first 100 by name and then other-guarded; other: not guarded)',
      labelNames: ['host', 'method', 'decision'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'scopegate_request_duration_seconds',
      help: 'Time from request received to response finished, as seen by scopegate',
      labelNames: ['decision'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.tunnels = new Counter({
      name: 'scopegate_tunnels_total',
      help: 'CONNECT requests for hosts that are not guarded, by result (tunnelled, refused, failed)',
      labelNames: ['result'],
      registers,
    });
    this.openConnections = new Gauge({
      name: 'scopegate_open_connections',
      help: 'Client connections open on the proxy listeners',
      registers,
    });
    this.openTunnels = new Gauge({ name: 'scopegate_open_tunnels', help: 'Byte tunnels open now', registers });
    this.leafCacheSize = new Gauge({
      name: 'scopegate_leaf_cache_size',
      help: 'Leaf certificates cached',
      registers,
      collect() {
        this.set(self.leafCacheSource());
      },
    });
    new Gauge({
      name: 'scopegate_store_up',
      help: 'Whether the hold store answered when last asked (1) or not (0); while 0, holds, approvals, allowed changes and placeholder checks are refused',
      registers,
      collect() {
        const s = self.storeSource();
        if (s) this.set(s.state === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'scopegate_store_state_seconds',
      help: 'How long the hold store has been in its current state (up or down)',
      registers,
      collect() {
        const s = self.storeSource();
        if (s) this.set((Date.now() - s.since) / 1000);
      },
    });
    observeFullGcs();
    new Gauge({
      name: 'scopegate_heap_live_bytes',
      help: 'V8 heap in use just after the latest full GC (at start-up until one has run): what is retained, garbage aside',
      registers,
      collect() {
        this.set(heapAfterFullGc);
      },
    });
    this.leafMintSeconds = new Histogram({
      name: 'scopegate_leaf_mint_seconds',
      help: 'Time to mint one leaf certificate',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
  }
}
