#!/usr/bin/env node
/**
 * A longer fuzz run of the property tests in test/unit/property.test.ts: the same properties, with
 * many more runs and a fresh seed, bounded by a wall-clock limit.
 *
 *   node scripts/fuzz-long.mjs [--record]
 *
 * Environment:
 *   FUZZ_RUNS     runs per property and seed (default 20000)
 *   FUZZ_SECONDS  wall-clock limit for all properties together (default 300); within one pass the
 *                 time left is shared out among the properties still to run; when every property
 *                 reached FUZZ_RUNS and more than 30 s are left, another pass runs with the next seed
 *   FC_SEED       first seed (default: derived from the clock; printed and recorded)
 *   FC_CALL_MS    per-call time bound (default 1000 ms, as in CI)
 *
 * It runs vitest on the one file with FC_NUM_RUNS / FC_DEADLINE / FC_REPORT set, reads the JSON
 * lines each property appends to the report, and prints a table. --record appends the result to
 * docs/fuzz-and-soak.md. Exit status: vitest's (0 when every property held; the `it.fails` bug
 * cases pass while the bugs are there).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILE = 'test/unit/property.test.ts';
const RUNS = Number(process.env.FUZZ_RUNS ?? 20000);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 300);
const SEED = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : Date.now() % 2_147_483_647;
const RECORD = process.argv.includes('--record');

const source = readFileSync(join(ROOT, FILE), 'utf8');
const propertyCount = (source.match(/await checkProperty\(/g) ?? []).length;
// vitest starts in a few seconds; keep them out of the properties' share
const STARTUP_MS = 8000;
const perPropertyMax = Math.max(5000, SECONDS * 1000);
const started = Date.now();
const endAt = started + SECONDS * 1000;

/**
 * One vitest run of the file with one seed: every property gets up to RUNS runs, and the time left
 * until `deadline` is shared out among the properties still to run.
 */
async function pass(seed, deadline) {
  const work = mkdtempSync(join(tmpdir(), 'sg-fuzz-'));
  const report = join(work, 'report.jsonl');
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', FILE, `--testTimeout=${SECONDS * 1000 + 60_000}`], {
    cwd: ROOT,
    env: {
      ...process.env,
      FC_SEED: String(seed),
      FC_NUM_RUNS: String(RUNS),
      FC_TIME_LIMIT_MS: String(perPropertyMax),
      FC_DEADLINE: String(deadline),
      FC_PROPERTY_COUNT: String(propertyCount),
      FC_REPORT: report,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so the hard stop below reaches vitest's workers too
  });
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
    process.stdout.write(c);
  });
  child.stderr.on('data', (c) => {
    out += c;
    process.stderr.write(c);
  });
  // a predicate cannot be interrupted: if one hangs, stop the whole run (by our child's group id)
  const hardStop = setTimeout(() => {
    console.error(`fuzz-long: seed ${seed} still running 120 s past its deadline; stopping vitest (pid ${child.pid})`);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, deadline - Date.now() + 120_000);
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1))));
  clearTimeout(hardStop);
  const lines = existsSync(report)
    ? readFileSync(report, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
  rmSync(work, { recursive: true, force: true });
  const tests = /Tests\s+(.*)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''))?.[1]?.trim() ?? '(no vitest summary)';
  return { seed, code, lines, tests };
}

// passes with seeds SEED, SEED+1, …: properties that reach FUZZ_RUNS early leave their time to a new seed
console.log(`fuzz-long: ${propertyCount} properties, up to ${RUNS} runs each per seed, ${SECONDS} s in all, first seed ${SEED}`);
const passes = [];
do {
  passes.push(await pass(SEED + passes.length, endAt - STARTUP_MS));
} while (endAt - Date.now() > 30_000 && passes.every((p) => p.code === 0));
const seconds = Math.round((Date.now() - started) / 1000);
const code = passes.find((p) => p.code !== 0)?.code ?? 0;

const byName = new Map();
for (const p of passes) {
  for (const l of p.lines) {
    const agg = byName.get(l.name) ?? { name: l.name, runs: 0, ms: 0, budget: 0, failures: [] };
    agg.runs += l.runs;
    agg.ms += l.ms;
    if (l.interrupted) agg.budget++;
    if (l.failed) agg.failures.push({ seed: p.seed, ...l });
    byName.set(l.name, agg);
  }
}
const rows = [...byName.values()];
const totalRuns = rows.reduce((n, r) => n + r.runs, 0);
const failures = rows.flatMap((r) => r.failures);
const seeds = passes.map((p) => p.seed).join(', ');
const table = [
  `| property | runs (${passes.length} seed${passes.length > 1 ? 's' : ''}) | time | passes stopped by the time budget | result |`,
  '|---|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.name} | ${r.runs} | ${(r.ms / 1000).toFixed(1)} s | ${r.budget} | ${r.failures.length ? `**FAILED** (seed ${r.failures[0].seed}, path ${r.failures[0].counterexamplePath})` : 'held'} |`),
].join('\n');
const vitestLine = passes.map((p) => `seed ${p.seed}: ${p.tests}`).join('; ');
console.log(`\nfuzz-long: seeds ${seeds}; ${totalRuns} runs over ${rows.length}/${propertyCount} properties in ${seconds} s; ${failures.length} failing; exit ${code}\n`);
console.log(table);
for (const f of failures) console.log(`\n${f.name} (seed ${f.seed}): ${f.error}\ncounterexample: ${f.counterexample}`);

if (RECORD) {
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const section = [
    '',
    `### Long fuzz run, ${when}`,
    '',
    `\`FUZZ_RUNS=${RUNS} FUZZ_SECONDS=${SECONDS} node scripts/fuzz-long.mjs --record\`: seeds ${seeds} (replay one with \`FC_SEED=<seed>\`), ` +
      `**${totalRuns} runs** over ${rows.length} properties in ${seconds} s of wall clock, **${failures.length} property failures**, exit ${code}. vitest: ${vitestLine}.`,
    '',
    table,
    ...failures.map((f) => `\n- **${f.name}** failed (seed ${f.seed}): ${String(f.error).split('\n')[0]}\n  counterexample: \`${String(f.counterexample).slice(0, 600)}\``),
    '',
  ].join('\n');
  appendFileSync(join(ROOT, 'docs', 'fuzz-and-soak.md'), section);
  console.log('\nappended to docs/fuzz-and-soak.md');
}
process.exit(code);
