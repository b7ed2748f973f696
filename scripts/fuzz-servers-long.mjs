#!/usr/bin/env node
/**
 * A longer run of the differential harness against real GraphQL servers
 * (test/unit/differential-servers.test.ts): the same property, many more generated requests, a
 * fresh seed, bounded by a wall-clock limit.
 *
 *   node scripts/fuzz-servers-long.mjs [--record]
 *
 * Environment:
 *   FUZZ_SECONDS  wall-clock limit of the generated run (default 300)
 *   FUZZ_RUNS     most requests to generate (default 1000000: the time limit is what ends the run)
 *   FC_SEED       seed (default: derived from the clock; printed and recorded)
 *
 * It runs vitest on the one file with FC_SEED / FC_NUM_RUNS / FC_TIME_LIMIT_MS / FC_REPORT /
 * DIFF_DUMP set, reads the figures the run appends to the report, and prints a table; every
 * disagreement is written out in full to the dump file it names. --record appends the result to
 * docs/fuzz-and-soak.md. Exit status: vitest's (0 when no server executed anything scopegate did
 * not read, and every corpus case held).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILE = 'test/unit/differential-servers.test.ts';
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 300);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1_000_000);
const SEED = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : Date.now() % 2_147_483_647;
const RECORD = process.argv.includes('--record');

const work = mkdtempSync(join(tmpdir(), 'sg-fuzz-servers-'));
const report = join(work, 'report.jsonl');
const dump = join(work, 'disagreements.txt');
const started = Date.now();
console.log(`fuzz-servers-long: seed ${SEED}, up to ${RUNS} requests, ${SECONDS} s; disagreements written out to ${dump}`);
const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', FILE], {
  cwd: ROOT,
  env: { ...process.env, FC_SEED: String(SEED), FC_NUM_RUNS: String(RUNS), FC_TIME_LIMIT_MS: String(SECONDS * 1000), FC_REPORT: report, DIFF_DUMP: dump },
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true, // its own process group, so the hard stop below reaches vitest's workers too
});
let out = '';
for (const s of [child.stdout, child.stderr]) {
  s.on('data', (c) => {
    out += c;
  });
}
// the run stops itself at its time limit; this is for a request that never returns
const hardStop = setTimeout(() => {
  console.error(`fuzz-servers-long: still running 120 s past the limit; stopping vitest (pid ${child.pid})`);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}, (SECONDS + 120) * 1000);
const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1))));
clearTimeout(hardStop);
const seconds = Math.round((Date.now() - started) / 1000);
const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
const tests = /Tests\s+(.*)/.exec(plain)?.[1]?.trim() ?? '(no vitest summary)';
const lines = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
const r = lines.filter((l) => l.compared !== undefined).at(-1);
if (!r) {
  console.log(plain.slice(-4000));
  console.error('fuzz-servers-long: the run wrote no figures');
  process.exit(code || 1);
}

const rows = [
  ['requests compared', r.compared],
  ['refused by scopegate', `${r.refused} (${r.refusedByParser} by Node's parser before the reader)`],
  ['read by scopegate as GraphQL', r.read],
  ['read by scopegate as not GraphQL (class unknown)', r.notGraphql],
  ...Object.entries(r.executedBy).map(([name, n]) => [`requests on which ${name} executed a root field`, n]),
  ['reader crashes', r.readerThrew],
  ['disagreements', r.disagreements],
];
const table = ['| figure | value |', '|---|---:|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
const refusals = Object.entries(r.refusals)
  .sort((a, b) => b[1] - a[1])
  .slice(0, 8)
  .map(([why, n]) => `${n} × ${why}`);
// the same shape found many times is one line, with its count
const shapes = new Map();
for (const l of r.lines) {
  const key = l.replace(/vol-[a-z]+\d+/g, 'vol-…');
  shapes.set(key, (shapes.get(key) ?? 0) + 1);
}
const found = [...shapes].map(([l, n]) => `${n} × ${l}`);
const corpus = lines.filter((l) => l.corpus !== undefined).map((l) => `${l.held ? 'holds' : 'FAILS'}: ${l.corpus}`);

console.log(`\nfuzz-servers-long: seed ${SEED}; ${r.compared} requests in ${seconds} s of wall clock; ${r.disagreements} disagreements; exit ${code}; vitest: ${tests}\n`);
console.log(table);
console.log(`\nmost frequent refusals:\n${refusals.map((l) => `  ${l}`).join('\n')}`);
if (found.length) console.log(`\ndisagreements (full write-ups in ${dump}):\n${found.map((l) => `  ${l}`).join('\n')}`);
if (corpus.length) console.log(`\ncorpus:\n${corpus.map((l) => `  ${l}`).join('\n')}`);

if (RECORD) {
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const section = [
    '',
    `### Differential run against real GraphQL servers, ${when}`,
    '',
    `\`FUZZ_SECONDS=${SECONDS} node scripts/fuzz-servers-long.mjs --record\`: seed ${SEED} (replay with \`FC_SEED=${SEED}\`), ` +
      `**${r.compared} generated requests** sent byte for byte to scopegate's reader and to ${Object.keys(r.executedBy).join(', ')}, in ${seconds} s of wall clock; ` +
      `**${r.disagreements} disagreements**, exit ${code}. vitest: ${tests}.`,
    '',
    table,
    '',
    `Most frequent refusals: ${refusals.join('; ')}.`,
    ...(found.length ? ['', 'Disagreements (a server executed a root field scopegate did not read):', '', ...found.map((l) => `- \`${l.slice(0, 400)}\``)] : []),
    ...(corpus.length ? ['', `Corpus (test/fixtures/differential-requests.ts): ${corpus.join('; ')}.`] : []),
    '',
  ].join('\n');
  appendFileSync(join(ROOT, 'docs', 'fuzz-and-soak.md'), section);
  console.log('\nappended to docs/fuzz-and-soak.md');
}
process.exit(code);
