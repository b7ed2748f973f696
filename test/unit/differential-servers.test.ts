/**
 * Differential reading against real GraphQL server stacks ("the method", issue 15): scopegate
 * promises to judge exactly what the upstream will execute, or refuse. Five widely used Node
 * stacks (test/helpers/graphql-servers.ts) run here as local upstreams that record the root fields
 * they execute; generated raw requests (test/helpers/differential-gen.ts) go, byte for byte, to
 * scopegate's reader (src/inspect/read-request.ts behind the proxy's client limits) and to every
 * server.
 *
 * Property: when scopegate reads a request (does not refuse it), every root field any server
 * executed is among scopegate's operations with the same type, name and arguments; a request
 * scopegate reads as "not GraphQL" makes no server execute anything. A refusal is always safe.
 *
 * Disagreements are collected over the whole run rather than shrunk one at a time (each costs six
 * round trips): the test fails at the end listing them. Every one found is kept as a fixed case in
 * test/fixtures/differential-requests.ts, run by the same check.
 *
 * Knobs (scripts/fuzz-servers-long.mjs uses them): FC_SEED, FC_NUM_RUNS (default 1000),
 * FC_TIME_LIMIT_MS (wall-clock budget of the generated run, default 25 s; the run stops, without
 * failing, when it is spent), FC_REPORT (a file the run appends one JSON line of figures to),
 * DIFF_DUMP (a file every disagreement is appended to, written out in full).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { appendFileSync } from 'node:fs';
import { startAll, type RunningServer } from '../helpers/graphql-servers.js';
import { compare, describe as describeComparison, startReader, summarise, type Comparison, type ReaderServer } from '../helpers/differential-check.js';
import { generate } from '../helpers/differential-gen.js';
import { serialize } from '../helpers/raw-request.js';
import { DIFFERENTIAL_CASES } from '../fixtures/differential-requests.js';

const envNum = (k: string): number | undefined => {
  const v = process.env[k];
  return v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;
};
const SEED = envNum('FC_SEED') ?? 0x5c0d1f;
const NUM_RUNS = envNum('FC_NUM_RUNS') ?? 1000;
const TIME_LIMIT_MS = envNum('FC_TIME_LIMIT_MS') ?? 25_000;
const REPORT = process.env['FC_REPORT'];
const DUMP = process.env['DIFF_DUMP'];
/** Full write-ups printed when the run fails; the rest are one line each. */
const SHOWN_IN_FULL = 6;

let reader: ReaderServer;
let servers: RunningServer[] = [];

beforeAll(async () => {
  reader = await startReader();
  servers = await startAll();
});
afterAll(async () => {
  await Promise.all([reader?.stop(), ...servers.map((s) => s.stop())]);
});

interface Found {
  bytes: Buffer;
  tags: string[];
  comparison: Comparison;
}

/** Figures of one run, printed at the end and (FC_REPORT) handed to the long-run script. */
const stats = { seed: SEED, compared: 0, refused: 0, refusedByParser: 0, readerThrew: 0, notGraphql: 0, read: 0, disagreements: 0, executedBy: {} as Record<string, number>, refusals: {} as Record<string, number>, ms: 0, interrupted: false };

function count(c: Comparison): void {
  stats.compared++;
  if (!c.reading.ok) {
    stats.refused++;
    // reasons without the quoted specifics, so that alike refusals count together
    const why = c.reading.reason.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 90);
    stats.refusals[why] = (stats.refusals[why] ?? 0) + 1;
    if ('parser' in c.reading) stats.refusedByParser++;
    if ('threw' in c.reading) stats.readerThrew++;
  } else if (c.reading.operations.length === 1 && c.reading.operations[0]!.type === 'http') stats.notGraphql++;
  else stats.read++;
  for (const [name, ex] of c.executions) if (ex.length) stats.executedBy[name] = (stats.executedBy[name] ?? 0) + 1;
  if (c.unread.size) stats.disagreements++;
}

function record(f: Found): void {
  if (DUMP) appendFileSync(DUMP, `=== ${f.tags.join(' ')}\n${summarise(f.comparison)}\n${describeComparison(f.bytes, f.comparison)}\n\n`);
}

describe('scopegate reads what real GraphQL servers execute', () => {
  it(`generated requests: every root field a server executes is read by scopegate, or the request is refused (seed ${SEED})`, async () => {
    const found: Found[] = [];
    const started = performance.now();
    const details = await fc.check(
      fc.asyncProperty(fc.gen(), async (g) => {
        const { request, tags } = generate(g);
        const bytes = serialize(request);
        const comparison = await compare(bytes, reader, servers);
        count(comparison);
        if (comparison.unread.size) {
          found.push({ bytes, tags, comparison });
          record(found.at(-1)!);
        }
        return true;
      }),
      { seed: SEED, numRuns: NUM_RUNS, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)], endOnFailure: true },
    );
    stats.ms = Math.round(performance.now() - started);
    stats.interrupted = details.interrupted;
    const figures = `differential-servers (seed ${SEED}): ${stats.compared} requests compared in ${stats.ms} ms${stats.interrupted ? ' (time budget spent)' : ''}; scopegate refused ${stats.refused} (${stats.refusedByParser} before the reader), read ${stats.read} as GraphQL, ${stats.notGraphql} as not GraphQL; requests on which a server executed something: ${Object.entries(stats.executedBy).map(([n, k]) => `${n} ${k}`).join(', ')}; disagreements ${stats.disagreements}`;
    console.info(figures);
    console.info(`refusals by reason:\n${Object.entries(stats.refusals).sort((a, b) => b[1] - a[1]).map(([r, n]) => `  ${n}  ${r}`).join('\n')}`);
    if (REPORT) appendFileSync(REPORT, `${JSON.stringify({ ...stats, lines: found.slice(0, 500).map((f) => `${f.tags.join(' ')} :: ${summarise(f.comparison)}`) })}\n`);
    if (details.failed) throw new Error(`the harness itself failed: ${String(details.errorInstance)}`);
    expect(stats.readerThrew, 'scopegate\'s reader threw (see the refusals above): nothing was compared for those requests').toBe(0);
    // non-vacuity: the servers executed things, and scopegate read some of them
    expect(stats.compared).toBeGreaterThan(Math.min(50, NUM_RUNS) - 1);
    for (const s of servers) expect(stats.executedBy[s.name] ?? 0, `${s.name} executed nothing in the whole run`).toBeGreaterThan(0);
    if (found.length) {
      const full = found.slice(0, SHOWN_IN_FULL).map((f) => `--- ${f.tags.join(' ')}\n${describeComparison(f.bytes, f.comparison)}`);
      const rest = found.slice(SHOWN_IN_FULL).map((f) => `- ${f.tags.join(' ')} :: ${summarise(f.comparison)}`);
      expect.fail(`${found.length} disagreements (replay with FC_SEED=${SEED}):\n\n${full.join('\n\n')}\n\n${rest.join('\n')}`);
    }
  }, TIME_LIMIT_MS + 30_000);

  it.each(DIFFERENTIAL_CASES.map((c) => [`${c.class}: ${c.name}`, c] as const))('corpus %s', async (_name, c) => {
    const bytes = serialize(c.request);
    const comparison = await compare(bytes, reader, servers);
    if (REPORT) appendFileSync(REPORT, `${JSON.stringify({ corpus: `${c.class}: ${c.name}`, held: comparison.unread.size === 0 && !('threw' in comparison.reading) })}\n`);
    expect('threw' in comparison.reading ? comparison.reading.reason : '').toBe('');
    if (comparison.unread.size) expect.fail(`${c.name} (${c.class}; found: ${c.found})\n${describeComparison(bytes, comparison)}`);
  });
});
