// The cost of a hold and its approval on each store, side by side in one run: SQLite (a file, WAL,
// synchronous FULL) and PostgreSQL (a throw-away local server, fsync on, synchronous_commit on:
// durable before each method returns, as the HoldStore contract asks). In process, through the
// stores' own classes from dist/, so what differs is the store and nothing else.
//
//   npm run build && node bench/store.mjs      (~1 min; writes its section of bench/RESULTS.md)
//
// Needs PostgreSQL's server binaries (Debian: apt-get install postgresql); without them the
// Postgres column is skipped with the reason. Loopback only; the server is stopped by its pid.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { BENCH, ROOT, median, pct } from './lib.mjs';

const N = Number(process.env['BENCH_STORE_N'] ?? 400);
const dist = (p) => import(join(ROOT, 'dist', p));
const { SqliteHoldStore } = await dist('holds/sqlite-store.js');
const { PostgresHoldStore } = await dist('holds/postgres-store.js');
const { Holds } = await dist('holds/holds.js');
const pg = (await import('pg')).default;

const watchdog = setTimeout(() => {
  console.error('bench/store.mjs overran 5 minutes; stopping');
  stopPostgres();
  process.exit(1);
}, 300_000);

// ---- a throw-away PostgreSQL ---------------------------------------------------------------
function findPostgres() {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  if (existsSync('/usr/lib/postgresql')) for (const v of readdirSync('/usr/lib/postgresql').sort((a, b) => b - a)) dirs.push(join('/usr/lib/postgresql', v, 'bin'));
  for (const d of dirs) if (existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres'))) return { initdb: join(d, 'initdb'), postgres: join(d, 'postgres') };
  return null;
}
let pgChild = null;
let pgWork = null;
function stopPostgres() {
  if (pgChild && pgChild.exitCode === null) process.kill(pgChild.pid, 'SIGINT');
}
async function startPostgres(bin) {
  pgWork = mkdtempSync(join(tmpdir(), 'sg-bench-pg-'));
  let as;
  if (process.getuid?.() === 0) {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:')) ?? readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
    const f = line.split(':');
    as = { uid: Number(f[2]), gid: Number(f[3]) };
    chownSync(pgWork, as.uid, as.gid);
  }
  chmodSync(pgWork, 0o700);
  const data = join(pgWork, 'data');
  const init = spawnSync(bin.initdb, ['-D', data, '-U', 'bench', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], { ...(as ?? {}), encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb: ${init.stderr}`);
  const port = await new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
  // fsync and synchronous_commit stay at their defaults (on): a commit is on disk before it returns
  pgChild = spawn(bin.postgres, ['-D', data, '-p', String(port), '-k', pgWork, '-c', 'listen_addresses=127.0.0.1'], { ...(as ?? {}), stdio: 'ignore' });
  const url = `postgres://bench@127.0.0.1:${port}/postgres`;
  for (let i = 0; i < 300; i++) {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.end();
      return url;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('postgres did not start within 30 s');
}

// ---- what is measured ----------------------------------------------------------------------
const newHold = (fingerprint) => ({
  decisionId: `d-${Math.random().toString(36).slice(2)}`, agent: 'bench', host: 'backboard.railway.com', path: '/graphql/v2', operation: 'volumeDelete',
  target: { type: 'volume', id: 'vol-1' }, scope: { status: 'resolved', environments: [{ id: 'env-staging', name: 'staging' }], shared: false },
  rule: 'irreversible-destruction', reason: 'a volume delete', ttlMs: 3_600_000, fingerprint, scopeFingerprint: 's',
  operations: [{ name: 'volumeDelete', alias: null, type: 'mutation', class: 'destructive-irreversible', target: { type: 'volume', id: 'vol-1' }, args: { volumeId: 'vol-1' } }],
});

async function timed(n, fn) {
  for (let i = 0; i < Math.min(50, n); i++) await fn(-1 - i); // warm-up, unrecorded
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return { p50: median(ms), p99: pct(ms, 0.99) };
}

/** Each step of a hold's life, one at a time; then whole lives 8 at a time; then the release of a call waiting in another "process". */
async function measure(open) {
  const a = await open();
  const b = await open();
  const out = {};
  const ids = [];
  out.createHold = await timed(N, async (i) => {
    const h = await a.createHold(newHold(`fp-${i}`), Date.now());
    if (i >= 0) ids.push(h.id);
  });
  // what a held call does: make its hold unless the identical call's is pending (on PostgreSQL a
  // transaction with an advisory lock per fingerprint; on SQLite BEGIN IMMEDIATE)
  out.createOrJoinHold = await timed(N, async (i) => void (await a.createOrJoinHold(newHold(`cj-${i}-${Math.random()}`), Date.now())));
  out.join = await timed(N, async () => void (await b.createOrJoinHold(newHold('fp-0'), Date.now())));
  out.decide = await timed(N, async (i) => void (await a.decide(i >= 0 ? ids[i] : 'H-none', true, 'bench', null, 900_000, Date.now())));
  out.consumeApproval = await timed(N, async (i) => void (await a.consumeApproval(`fp-${i}`, 'd', Date.now(), i >= 0 ? ids[i] : 'H-none')));
  out.audit1 = await timed(N, async (i) => a.audit([{ at: Date.now(), event: 'forward', decisionId: `d${i}`, eventId: `e-${i}-${Math.random()}` }]));
  const ph = await a.createPlaceholder({ agent: 'bench', credential: 'c', tokenHash: `h-${Math.random()}`, environments: [], expiresAt: null }, Date.now());
  out.findPlaceholder = await timed(N, async () => void (await a.findPlaceholder(ph.tokenHash)));
  // whole lives (create, approve, consume, three audit events), 8 in flight
  const lives = Math.max(80, N / 2);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < lives) {
      const i = next++;
      const fp = `life-${i}-${Math.random()}`;
      const { hold: h } = await a.createOrJoinHold(newHold(fp), Date.now());
      await a.audit([{ at: Date.now(), event: 'hold', holdId: h.id, eventId: `${fp}-h` }]);
      await b.decide(h.id, true, 'bench', null, 900_000, Date.now());
      await b.audit([{ at: Date.now(), event: 'approve', holdId: h.id, eventId: `${fp}-a` }]);
      await a.consumeApproval(fp, 'd', Date.now(), h.id);
      await a.audit([{ at: Date.now(), event: 'use', holdId: h.id, eventId: `${fp}-u` }]);
    }
  }));
  out.livesPerSecond = lives / ((performance.now() - t0) / 1000);
  // release: a call waits on instance A (Holds.waitForDecision); instance B approves
  const holdsA = new Holds(a, Buffer.alloc(32, 1), { holdTtlMs: 3_600_000, approvalTtlMs: 900_000, logger: { warn() {}, error() {} } });
  const release = [];
  for (let i = 0; i < 20; i++) {
    const h = await a.createHold(newHold(`rel-${i}`), Date.now());
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 500)); // approvals come at any point of the poll
    const waiting = holdsA.waitForDecision(h.id, 10_000, new AbortController().signal);
    await new Promise((r) => setTimeout(r, 20));
    const decided = performance.now();
    await b.decide(h.id, true, 'bench', null, 900_000, Date.now());
    const t = performance.now();
    const outcome = await waiting;
    if (outcome !== 'approved') throw new Error(`release ${i}: ${outcome}`);
    release.push(performance.now() - t);
    void decided;
  }
  out.release = { p50: median(release), p99: pct(release, 0.99), max: Math.max(...release) };
  await a.close();
  await b.close();
  return out;
}

// ---- run -----------------------------------------------------------------------------------
const results = {};
const sqliteDir = mkdtempSync(join(tmpdir(), 'sg-bench-sqlite-'));
results.sqlite = await measure(async () => new SqliteHoldStore(sqliteDir));
rmSync(sqliteDir, { recursive: true, force: true });

const bin = findPostgres();
let skipped = null;
if (!bin) skipped = 'no PostgreSQL server binaries (apt-get install postgresql)';
else {
  try {
    const url = await startPostgres(bin);
    results.postgres = await measure(async () => PostgresHoldStore.open(url, { shown: url }));
  } finally {
    stopPostgres();
    if (pgChild) await new Promise((r) => (pgChild.exitCode !== null ? r() : pgChild.once('exit', r)));
    if (pgWork) rmSync(pgWork, { recursive: true, force: true });
  }
}

const f = (x) => (x === undefined ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const rows = [
  ['createHold (a hold written before its id is shown)', 'createHold'],
  ['createOrJoinHold, new (what a held call does: one hold per identical call across replicas)', 'createOrJoinHold'],
  ['createOrJoinHold, joining the pending hold of the identical call', 'join'],
  ['decide (a person approves)', 'decide'],
  ['consumeApproval (single use, row-locked / BEGIN IMMEDIATE)', 'consumeApproval'],
  ['audit, one event', 'audit1'],
  ['findPlaceholder (every call carrying a placeholder)', 'findPlaceholder'],
];
const cell = (store, key) => (results[store] ? `${f(results[store][key].p50)} / ${f(results[store][key].p99)}` : `skipped: ${skipped}`);
const section = `<!-- store-bench: written by bench/store.mjs; bench/run.mjs keeps it -->
## Hold store: SQLite vs PostgreSQL

Written by \`node bench/store.mjs\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}). Each store through its own class from dist/, in process, one after the other in one run: SQLite a file with WAL and synchronous FULL; PostgreSQL ${bin ? 'a local server from initdb' : '(skipped)'} on 127.0.0.1 with fsync and synchronous_commit on. Both durable before each method returns. ${N} operations of each kind one at a time (after 50 unrecorded), milliseconds p50 / p99.

| operation | SQLite ms | PostgreSQL ms |
|---|---:|---:|
${rows.map(([label, key]) => `| ${label} | ${cell('sqlite', key)} | ${cell('postgres', key)} |`).join('\n')}
| whole holds per second, 8 in flight (createOrJoinHold, approve, consume, three audit events; two store instances) | ${results.sqlite ? f(results.sqlite.livesPerSecond) : '—'} | ${results.postgres ? f(results.postgres.livesPerSecond) : '—'} |
| a call waiting on one instance, released by an approval on another: from the approval's return to the wait's end, p50 / max of 20 | ${results.sqlite ? `${f(results.sqlite.release.p50)} / ${f(results.sqlite.release.max)}` : '—'} | ${results.postgres ? `${f(results.postgres.release.p50)} / ${f(results.postgres.release.max)}` : '—'} |

SQLite releases a call waiting in another process by its poll (every ${Holds.POLL_MS} ms from the wait's start; here each approval came 20 ms into the wait, so the poll found it about ${Holds.POLL_MS - 20} ms later: the row is the poll's wait, at most ${Holds.POLL_MS} ms); PostgreSQL tells the other instance with NOTIFY at commit, the poll being only the fallback. The contract's bound is a second (interface.md, "Several replicas").
<!-- /store-bench -->`;

const resultsPath = join(BENCH, 'RESULTS.md');
const md = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '# scopegate benchmark results\n';
const re = /<!-- store-bench[\s\S]*?<!-- \/store-bench -->/;
writeFileSync(resultsPath, re.test(md) ? md.replace(re, section) : `${md.trimEnd()}\n\n${section}\n`);
process.stdout.write(`${section}\n`);
clearTimeout(watchdog);
process.exit(0);
