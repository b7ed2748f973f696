import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

// In a child with --expose-gc, so the test decides when a full GC happens.
const script = `
const { Metrics } = await import(${JSON.stringify(join(ROOT, 'dist', 'admin', 'metrics.js'))});
const m = new Metrics();
const read = async () => Number(/^scopegate_heap_live_bytes (\\S+)$/m.exec(await m.registry.metrics())?.[1]);
const before = await read();
globalThis.gc();
await new Promise((r) => setTimeout(r, 50));
const empty = await read();
globalThis.kept = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i }));
globalThis.gc();
await new Promise((r) => setTimeout(r, 50));
const full = await read();
globalThis.kept = null;
globalThis.gc();
await new Promise((r) => setTimeout(r, 50));
const freed = await read();
console.log(JSON.stringify({ before, empty, full, freed }));
`;

describe('scopegate_heap_live_bytes', () => {
  it('is the heap retained after the latest full GC: up when something is kept, down when it is let go', async () => {
    const r = await run(process.execPath, ['--expose-gc', '--input-type=module', '-e', script]);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { before: number; empty: number; full: number; freed: number };
    expect(v.before).toBeGreaterThan(1e6);
    expect(v.empty).toBeGreaterThan(1e6);
    // 200 000 small objects and strings retained: well over 8 MB more
    expect(v.full - v.empty).toBeGreaterThan(8e6);
    expect(v.full - v.freed).toBeGreaterThan(8e6);
  });
});

describe('scopegate_requests_total host label', () => {
  it('names the first guarded hosts and folds the rest into other-guarded, so a wildcard cannot grow /metrics without bound', async () => {
    const { Metrics } = await import('../../src/admin/metrics.js');
    const m = new Metrics();
    const hosts = Array.from({ length: Metrics.MAX_HOST_LABELS + 50 }, (_, i) => `h${i}.example.test`);
    for (const h of hosts) m.requests.inc({ host: m.hostLabel(h), method: 'POST', decision: 'allow' });
    // a host named before keeps its label after the bound is reached
    m.requests.inc({ host: m.hostLabel('h0.example.test'), method: 'POST', decision: 'allow' });
    const text = await m.registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('scopegate_requests_total{'));
    expect(series).toHaveLength(Metrics.MAX_HOST_LABELS + 1);
    expect(series).toContain('scopegate_requests_total{host="h0.example.test",method="POST",decision="allow"} 2');
    expect(series).toContain(`scopegate_requests_total{host="h${Metrics.MAX_HOST_LABELS - 1}.example.test",method="POST",decision="allow"} 1`);
    expect(series).toContain('scopegate_requests_total{host="other-guarded",method="POST",decision="allow"} 50');
    expect(text).not.toContain(`h${Metrics.MAX_HOST_LABELS}.example.test`);
  });
});
