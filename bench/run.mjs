// scopegate's benchmark suite: `npm run bench` (= build, then this file). See bench/README.md.
//
// Side by side, in one run, interleaved and repeated: direct to the upstream, the floor (a bare
// TLS-terminating forwarder / TCP relay, bench/floor.mjs), scopegate, mockttp and mitmproxy, on
// the same work. Processes: this orchestrator (reads /proc, writes RESULTS.md), the load
// generator (bench/loadgen.mjs), the upstreams (bench/upstream.mjs), and each proxy in its own.
// Everything listens on 127.0.0.1; every loop is bounded in count and time; every process started
// here is stopped by its pid. Timings are never asserted: this machine is shared and noisy.
//
//   BENCH_ROUNDS=3     rounds (medians of rounds are reported)
//   BENCH_PROFILE=1    (or --profile) scenario (a) (or those in BENCH_ONLY), scopegate (and the
//                      floor, if BENCH_ROWS names it) under --cpu-prof; writes
//                      bench/.work/prof/*.cpuprofile and summaries; RESULTS.md is left alone
//   BENCH_SG_NODE_ARGS="--flag …"  extra node flags for scopegate only (diagnosis)
//   BENCH_FLOOR_NODE_ARGS="--flag …"  the same for the floor
//   BENCH_PROFILE_SCENARIO=a          with BENCH_PROFILE and several BENCH_ONLY scenarios: summarise only (a)'s samples
//   BENCH_KEEP_WORK=1               keep the work dir (logs, data dirs) instead of removing it
//   BENCH_ONLY=a,f     only these scenarios; BENCH_ROWS=floor,scopegate only these rows; the
//                      figures go to stdout and RESULTS.md is left alone
import { spawn, fork, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, fstatSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  API_HOST, BENCH, BIG_BYTES, BIG_HOST, GUARDED_SUFFIX, RAILWAY_HOST, ROOT, TUNNEL_SNI,
  binNodeFlags, cpuSeconds, ipcClient, makePki, median, memory, pct, sleep,
} from './lib.mjs';
import { END as PREFLIGHT_END, START as PREFLIGHT_START, placeSection } from './preflight.mjs';

const ROUNDS = Math.max(1, Math.min(20, Number(process.env.BENCH_ROUNDS ?? 3) || 3));
const PROFILE = process.env.BENCH_PROFILE === '1' || process.argv.includes('--profile');
const HOSTS_PER_ROUND = 200;
// what users run is info (a JSON line per request); another level is for diagnosis only, and is written into RESULTS.md
const SG_LOG_LEVEL = process.env.BENCH_SG_LOG_LEVEL || 'info';
// for working on one thing: BENCH_ONLY=a,f runs only those scenarios, BENCH_ROWS=floor,scopegate
// only those rows (direct always runs); RESULTS.md is then left alone and the table goes to stdout
const ONLY = (process.env.BENCH_ONLY || '').split(',').filter(Boolean);
const ROW_FILTER = (process.env.BENCH_ROWS || '').split(',').filter(Boolean);
const PARTIAL = ONLY.length > 0 || ROW_FILTER.length > 0;
const WATCHDOG_MS = 11 * 60_000; // a last resort; the scenario caps below keep a run near 5-6 min

// what each scenario does (counts and caps; a run stops at whichever comes first)
const P = {
  a: { conc: 8, n: 12000, capMs: 4000, warm: 200 },
  b: { conc: 4, n: 1500, capMs: 3000 },
  c: { conc: 4, n: 1200, capMs: 3000, warm: 16 },
  d: { conc: 1, capMs: 7000 },
  e: { n: 28, skip: 3, capMs: 6000 },
  f: { streams: 4, bytes: 128 * 2 ** 20, capMs: 15000 },
  g: { conc: 200, n: 1000, capMs: 8000, holdMs: 1200 },
};
const GQL_READ = JSON.stringify({ query: 'query { me { id } }' });
const GQL_DELETE = JSON.stringify({ query: 'mutation cleanupStaging { volumeDelete(volumeId: "vol-7f3a9d") }' });
const ACCOUNT_TOKEN = 'tok-account-owner'; // POCKETOS.token.account of the fake Railway

const log = (...a) => process.stderr.write(`[bench] ${a.join(' ')}\n`);
const t0Run = Date.now();

// ---------------------------------------------------------------- processes (stopped by pid)

const children = [];
function track(name, child) {
  children.push({ name, child });
  return child;
}
async function stopChild(c, graceMs = 4000) {
  if (c.exitCode !== null || c.signalCode !== null || !c.pid) return;
  const exited = new Promise((r) => c.once('exit', r));
  try {
    process.kill(c.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(t);
}
async function stopAll() {
  await Promise.all(children.map(({ child }) => stopChild(child)));
}
const watchdog = setTimeout(() => {
  log(`watchdog: still running after ${WATCHDOG_MS / 60000} min; stopping everything`);
  void stopAll().finally(() => process.exit(1));
}, WATCHDOG_MS);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stopAll().finally(() => process.exit(130)));
// any failure stops every process this run started, and removes the run's temporary directory
let tmpWork = null;
for (const ev of ['uncaughtException', 'unhandledRejection']) {
  process.once(ev, (err) => {
    log(`failed: ${err?.stack ?? err}`);
    process.exitCode = 1;
    void stopAll().finally(() => {
      if (tmpWork) rmSync(tmpWork, { recursive: true, force: true });
      process.exit(1);
    });
    // keep the event loop alive until the children are stopped
    setTimeout(() => process.exit(1), 10_000);
  });
}

/** A child that prints one JSON line ({listening} or {missing}) on stdout when ready. */
function firstJsonLine(child, name, ms) {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stderr?.on('data', (c) => {
      err = (err + c).slice(-4000);
    });
    const t = setTimeout(() => reject(new Error(`${name} did not start within ${ms} ms: ${err}`)), ms);
    child.stdout.on('data', function onData(c) {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      child.stdout.off('data', onData);
      child.stdout.resume();
      clearTimeout(t);
      try {
        resolve(JSON.parse(buf.slice(0, nl)));
      } catch {
        reject(new Error(`${name} printed ${buf.slice(0, 200)}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${name} exited (${code}): ${err.slice(-1500)}`));
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms, child, name) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode})`);
    const ok = await new Promise((r) => {
      const c = connect({ host: '127.0.0.1', port });
      c.once('connect', () => {
        c.destroy();
        r(true);
      });
      c.once('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${name} did not listen on ${port} within ${ms} ms`);
}

/** scopegate's stdout goes to a file; this reads the lines added since the last call. */
class LogTail {
  constructor(path) {
    this.path = path;
    this.pos = 0;
    this.rest = '';
  }
  read() {
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.pos) return [];
      const buf = Buffer.alloc(size - this.pos);
      readSync(fd, buf, 0, buf.length, this.pos);
      this.pos = size;
      const text = this.rest + buf.toString('utf8');
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      const out = [];
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        try {
          out.push(JSON.parse(l));
        } catch {
          /* partial or not JSON */
        }
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }
}

// ---------------------------------------------------------------- set-up

const work = mkdtempSync(join(tmpdir(), 'sg-bench-'));
tmpWork = work;
const profDir = join(BENCH, '.work', 'prof');
// BENCH_KEEP_WORK=1 leaves the work dir (scopegate's log, its data dir) for a look afterwards
const removeWork = () => (process.env.BENCH_KEEP_WORK ? log(`left ${work} (BENCH_KEEP_WORK)`) : rmSync(work, { recursive: true, force: true }));
log(`work dir ${work}; ${ROUNDS} round(s)${PROFILE ? '; PROFILE mode: scopegate under --cpu-prof' : ''}`);
const pki = makePki(work);

const upstreamProc = track('upstream', fork(join(BENCH, 'upstream.mjs'), [JSON.stringify({ certPath: pki.upstream.certPath, keyPath: pki.upstream.keyPath })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
const upstream = ipcClient(upstreamProc, 'upstream');
const loadProc = track('loadgen', fork(join(BENCH, 'loadgen.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
const load = ipcClient(loadProc, 'loadgen');
const ports = await upstream({ op: 'ports' }, 20_000);
log(`upstream api :${ports.api}, bulk :${ports.bulk}, fake Railway :${ports.fake}${ports.fakeTimed ? '' : ' (its answers cannot be timed)'}`);

const warmHosts = Array.from({ length: 20 }, (_, i) => `w${i}.${GUARDED_SUFFIX}`);
const roundHosts = Array.from({ length: ROUNDS }, (_, r) => Array.from({ length: HOSTS_PER_ROUND }, (_, i) => `r${r}-h${i}.${GUARDED_SUFFIX}`));

/** Rows in interleaving order. Each: { name, label, pid, target, skip? } */
const rows = [];
rows.push({ name: 'direct', label: 'direct (no proxy)', pid: null, target: { kind: 'direct', upstreamPort: ports.api, bulkPort: ports.bulk, caPaths: [pki.caPath] } });

/** Extra node flags for one row, from a space-separated environment variable (diagnosis). */
const envNodeArgs = (name) => (process.env[name] ?? '').split(' ').filter(Boolean);

async function startFloor() {
  // under --profile with BENCH_ROWS naming the floor, it is profiled too: the two summaries side by side
  const floorProf = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(profDir, 'floor')] : [];
  const child = track('floor', spawn(process.execPath, [...floorProf, ...envNodeArgs('BENCH_FLOOR_NODE_ARGS'), join(BENCH, 'floor.mjs'), JSON.stringify({ certPath: pki.floor.certPath, keyPath: pki.floor.keyPath, caPath: pki.caPath, upstreamPort: ports.api })], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const { listening } = await firstJsonLine(child, 'floor', 10_000);
  return { name: 'floor', label: 'floor (bare Node forwarder / TCP relay)', pid: child.pid, child, target: { kind: 'proxy', proxyPort: listening, bulkPort: ports.bulk, caPaths: [pki.caPath] } };
}

const BIN_NODE_FLAGS = binNodeFlags();

const adminToken = randomBytes(24).toString('hex');
let sgLog;
let sgAdmin;
async function startScopegate(tag = '', extraArgs = []) {
  const policyPath = join(work, `policy${tag}.yaml`);
  const base = readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8');
  const policy = base.replace(/hosts: \[backboard\.railway\.com, backboard\.railway\.app\]/, `hosts: [backboard.railway.com, backboard.railway.app, "*.${GUARDED_SUFFIX}"]`);
  if (policy === base) throw new Error('could not add *.bench.test to the default policy (its providers line changed?)');
  writeFileSync(policyPath, policy);
  const routes = [API_HOST, BIG_HOST, ...warmHosts, ...roundHosts.flat()].map((h) => `${h}=127.0.0.1:${ports.api}`);
  routes.push(`${RAILWAY_HOST}=127.0.0.1:${ports.fake}`);
  // scenario f tunnels to 127.0.0.1 with SNI TUNNEL_SNI: scopegate relays that only if the name
  // leads to that address (not domain fronting), and a .test name resolves nowhere
  routes.push(`${TUNNEL_SNI}=127.0.0.1:${ports.bulk}`);
  const nodeArgs = [...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), ...BIN_NODE_FLAGS, ...envNodeArgs('BENCH_SG_NODE_ARGS')];
  if (PROFILE) mkdirSync(profDir, { recursive: true });
  const logPath = join(work, `scopegate${tag}.log`);
  const out = openSync(logPath, 'w');
  const child = track('scopegate', spawn(process.execPath, [
    ...nodeArgs, join(ROOT, 'dist', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', adminToken,
    '--policy', policyPath, '--ca-dir', join(work, `sg-ca${tag}`), '--data-dir', join(work, `sg-data${tag}`), '--upstream-ca', pki.caPath,
    '--hold-timeout', '0', '--drain-timeout', '1', '--log-level', SG_LOG_LEVEL, ...routes.flatMap((r) => ['--route', r]), ...extraArgs,
  ], { stdio: ['ignore', out, 'pipe'], cwd: work }));
  closeSync(out);
  let err = '';
  child.stderr.on('data', (c) => {
    err = (err + c).slice(-4000);
  });
  const tail = new LogTail(logPath);
  if (!tag) sgLog = tail;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`scopegate exited (${child.exitCode}): ${err}`);
    if (Date.now() > deadline) throw new Error(`scopegate did not log "listening" within 30 s: ${err}`);
    let l = tail.read().find((x) => x.msg === 'listening');
    // below info the "listening" line is not logged: the start-up summary on stderr says the same
    const m = SG_LOG_LEVEL === 'info' ? null : /proxy http:\/\/([\d.]+:\d+).*admin http:\/\/([\d.]+:\d+)/.exec(err);
    if (!l && m) l = { listen: m[1], admin: m[2] };
    if (l) {
      const port = Number(String(l.listen).split(':').pop());
      if (!tag) sgAdmin = `http://${l.admin}`;
      return { name: 'scopegate', label: `scopegate (--log-level ${SG_LOG_LEVEL})`, pid: child.pid, child, log: tail, target: { kind: 'proxy', proxyPort: port, bulkPort: ports.bulk, caPaths: [join(work, `sg-ca${tag}`, 'ca.pem')] } };
    }
    await sleep(50);
  }
}

async function startMockttp() {
  const child = track('mockttp', spawn(process.execPath, [join(BENCH, 'mockttp-proxy.mjs'), JSON.stringify({ caPath: pki.caPath, caKeyPath: pki.caKeyPath, upstreamPort: ports.api, tunnelSni: TUNNEL_SNI })], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let first;
  try {
    first = await firstJsonLine(child, 'mockttp', 20_000);
  } catch (err) {
    return { name: 'mockttp', label: 'mockttp', skip: `mockttp did not start: ${String(err.message).slice(0, 300)}` };
  }
  if (first.missing) return { name: 'mockttp', label: 'mockttp', skip: first.missing };
  let version = first.version;
  if (!version) {
    for (const dir of [join(ROOT, 'node_modules', 'mockttp'), join(BENCH, '.work', 'deps', 'node_modules', 'mockttp')]) {
      if (existsSync(join(dir, 'package.json'))) {
        version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
        break;
      }
    }
  }
  return { name: 'mockttp', label: `mockttp ${version ?? ''} (one passThrough rule)`.replace('  ', ' '), pid: child.pid, child, target: { kind: 'proxy', proxyPort: first.listening, bulkPort: ports.bulk, caPaths: [pki.caPath] }, version };
}

async function startMitmproxy() {
  let bin;
  try {
    bin = execFileSync('sh', ['-c', 'command -v mitmdump'], { encoding: 'utf8' }).trim();
  } catch {
    return { name: 'mitmproxy', label: 'mitmproxy', skip: 'mitmdump is not installed (apt-get install -y mitmproxy)' };
  }
  let version = '';
  try {
    version = /Mitmproxy:\s*(\S+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 15_000 }))?.[1] ?? '';
  } catch {
    /* unknown */
  }
  const confdir = join(work, 'mitm');
  mkdirSync(confdir, { recursive: true });
  const port = await freePort();
  const child = track('mitmproxy', spawn(bin, [
    '--listen-host', '127.0.0.1', '--listen-port', String(port), '-q',
    '--set', `confdir=${confdir}`, '--set', `ssl_verify_upstream_trusted_ca=${pki.caPath}`,
    '--ignore-hosts', `^${TUNNEL_SNI.replace(/\./g, '\\.')}$`, '-s', join(BENCH, 'mitm_route.py'),
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BENCH_UPSTREAM_PORT: String(ports.api), BENCH_GUARDED_SUFFIX: GUARDED_SUFFIX, BENCH_RAILWAY_HOST: RAILWAY_HOST } }));
  let err = '';
  child.stderr.on('data', (c) => {
    err = (err + c).slice(-4000);
  });
  try {
    await waitForPort(port, 30_000, child, 'mitmdump');
    const caFile = join(confdir, 'mitmproxy-ca-cert.pem');
    for (let i = 0; i < 50 && !existsSync(caFile); i++) await sleep(100);
    return { name: 'mitmproxy', label: `mitmproxy ${version} (mitmdump -q)`, pid: child.pid, child, target: { kind: 'proxy', proxyPort: port, bulkPort: ports.bulk, caPaths: [caFile] }, version };
  } catch (e) {
    return { name: 'mitmproxy', label: 'mitmproxy', skip: `mitmdump did not start: ${e.message} ${err.slice(-300)}` };
  }
}

const starters = { floor: startFloor, scopegate: startScopegate, mockttp: startMockttp, mitmproxy: startMitmproxy };
const sg = await startScopegate();
if (PROFILE) {
  if (ROW_FILTER.includes('floor')) rows.push(await startFloor());
  rows.push(sg);
} else {
  const want = (name) => ROW_FILTER.length === 0 || ROW_FILTER.includes(name);
  if (want('floor')) rows.push(await startFloor());
  rows.push(sg);
  if (want('mockttp')) rows.push(await startMockttp());
  if (want('mitmproxy')) rows.push(await startMitmproxy());
}
for (const r of rows.filter((x) => x.skip)) log(`row ${r.name} skipped: ${r.skip}`);

// a quick check that each row works at all; a row that does not is skipped with the reason
for (const r of rows.filter((x) => !x.skip)) {
  try {
    const res = await load({ op: 'keepAlive', target: r.target, host: API_HOST, path: '/graphql/v2', body: GQL_READ, conc: 1, n: 3, capMs: 5000 }, 20_000);
    if (res.n !== 3) throw new Error(`${res.errors} errors: ${res.firstError}`);
  } catch (err) {
    r.skip = `its first requests failed: ${String(err.message).slice(0, 300)}`;
    log(`row ${r.name} skipped: ${r.skip}`);
  }
}
const active = () => rows.filter((r) => !r.skip);

/**
 * Wait until no proxy process is still working off the run before (a slow row goes on answering
 * requests its run abandoned at the time cap), so that work is not charged to the next row: every
 * proxy under 2 ticks of CPU (20 ms; /proc counts in 10 ms ticks) in each of two 150 ms samples,
 * for at most 5 s.
 */
async function settle(scenario, next) {
  const pids = active().filter((r) => r.pid).map((r) => ({ name: r.name, pid: r.pid }));
  const t0 = Date.now();
  let quiet = 0;
  let last = pids.map((p) => cpuSeconds(p.pid));
  let busy = [];
  while (quiet < 2 && Date.now() - t0 < 5_000) {
    await sleep(150);
    const now = pids.map((p) => cpuSeconds(p.pid));
    busy = pids.filter((_, i) => now[i] - last[i] >= 0.02).map((p) => p.name);
    quiet = busy.length === 0 ? quiet + 1 : 0;
    last = now;
  }
  const ms = Date.now() - t0;
  if (ms > 1_000) log(`  ${scenario} ${next}: waited ${ms} ms for the proxies to go quiet${busy.length ? ` (still busy: ${busy.join(', ')})` : ''}`);
}

// ---------------------------------------------------------------- measuring

/** Run one loadgen command against a row, reading the row's CPU before/after and polling its RSS. */
async function measure(row, msg, timeoutMs, countFds = false) {
  const pid = row.pid;
  const cpu0 = pid ? cpuSeconds(pid) : NaN;
  const main0 = pid ? cpuSeconds(pid, pid) : NaN;
  let rssPeak = pid ? memory(pid).rss : NaN;
  let fdPeak = NaN;
  const poll = pid ? setInterval(() => {
    const m = memory(pid).rss;
    if (m > rssPeak) rssPeak = m;
    if (countFds) {
      try {
        const n = readdirSync(`/proc/${pid}/fd`).length;
        if (!(n <= fdPeak)) fdPeak = n;
      } catch {
        /* gone */
      }
    }
  }, 20) : null;
  try {
    const res = await load({ ...msg, target: row.target }, timeoutMs);
    const cpu = pid ? cpuSeconds(pid) - cpu0 : NaN;
    // the main thread alone: the rest is GC helpers, the libuv pool and any worker threads
    const cpuMain = pid ? cpuSeconds(pid, pid) - main0 : NaN;
    const end = pid ? memory(pid) : { rss: NaN, hwm: NaN };
    return { ...res, cpu, cpuMain, rssPeak: Math.max(rssPeak, end.rss), hwm: end.hwm, fdPeak };
  } finally {
    if (poll) clearInterval(poll);
  }
}

/** A histogram from scopegate's /metrics: sum, count and cumulative buckets. */
async function metricHistogram(name) {
  try {
    const res = await fetch(`${sgAdmin}/metrics`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const v = (suffix) => Number(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
    const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} ([0-9.e+-]+)$`, 'gm'))].map((m) => ({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), n: Number(m[2]) }));
    return { sum: v('sum'), count: v('count'), buckets };
  } catch {
    return { sum: NaN, count: NaN, buckets: [] };
  }
}

/** Median (and the share at or under `limit`) of the observations between two histogram scrapes, interpolated within buckets. */
function histogramDelta(before, after, limit) {
  const b = after.buckets.map((x, i) => ({ le: x.le, n: x.n - (before.buckets[i]?.n ?? 0) }));
  const total = after.count - before.count;
  let median = NaN;
  let prevLe = 0;
  let prevN = 0;
  for (const x of b) {
    if (x.n >= total / 2 && Number.isFinite(x.le)) {
      median = prevLe + ((total / 2 - prevN) / Math.max(1, x.n - prevN)) * (x.le - prevLe);
      break;
    }
    prevLe = x.le;
    prevN = x.n;
  }
  const atLimit = b.find((x) => x.le === limit);
  return { median, shareUnder: atLimit ? atLimit.n / total : NaN, mean: (after.sum - before.sum) / total, count: total };
}

const results = {}; // results[scenario][row] = [per-round result]
const put = (s, row, r) => (((results[s] ??= {})[row] ??= []).push(r));

const scen = {
  a: (row) => measure(row, { op: 'keepAlive', host: API_HOST, path: '/graphql/v2', body: GQL_READ, ...P.a }, 60_000),
  b: (row) => measure(row, { op: 'newConnection', host: API_HOST, path: '/graphql/v2', body: GQL_READ, ...P.b }, 60_000),
  c: (row) => measure(row, { op: 'keepAlive', host: BIG_HOST, path: '/graphql/v2', body: GQL_READ, ...P.c }, 60_000),
  d: async (row, round) => {
    const before = row.name === 'scopegate' ? await metricHistogram('scopegate_leaf_mint_seconds') : null;
    const r = await measure(row, { op: 'manyHosts', hosts: round < 0 ? warmHosts : roundHosts[round], path: '/graphql/v2', body: GQL_READ, ...P.d }, 90_000);
    if (before) {
      const h = histogramDelta(before, await metricHistogram('scopegate_leaf_mint_seconds'), 0.005);
      r.mintMeanMs = h.mean * 1000;
      r.mintMedianMs = h.median * 1000;
      r.mintUnder5 = h.shareUnder;
      r.mints = h.count;
    }
    return r;
  },
  f: (row) => measure(row, { op: 'tunnel', caPaths: [pki.caPath], ...P.f }, 60_000),
  // (g) again on a process of the row started for it: RSS is never handed back after the bulk
  // scenarios, so in the long-lived process it shows their high-water mark (the floor's too), not
  // what 200 connections cost
  gFresh: async (row, round) => {
    if (row.name === 'direct') return measure(row, { op: 'keepAlive', host: API_HOST, path: '/graphql/v2', body: GQL_READ, warm: 0, ...P.g }, 60_000, true);
    const fresh = await starters[row.name](`-fresh${round}`);
    if (fresh.skip) throw new Error(fresh.skip);
    try {
      await load({ op: 'keepAlive', target: fresh.target, host: API_HOST, path: '/graphql/v2', body: GQL_READ, conc: 8, n: 600, capMs: 1500 }, 30_000);
      const idle = memory(fresh.pid).rss;
      const r = await measure(fresh, { op: 'keepAlive', host: API_HOST, path: '/graphql/v2', body: GQL_READ, warm: 0, ...P.g }, 60_000, true);
      return { ...r, rssBefore: idle };
    } finally {
      await stopChild(fresh.child);
    }
  },
  g: (row) => measure(row, { op: 'keepAlive', host: API_HOST, path: '/graphql/v2', body: GQL_READ, warm: 0, ...P.g }, 60_000, true),
};

/** The lookups' critical path from a log line's `lookups` (parallel lookups of one name overlap). */
function lookupCriticalMs(lookups) {
  let total = 0;
  let prev = null;
  let groupMax = 0;
  for (const l of lookups ?? []) {
    const m = /^(\S+) ([\d.]+)ms$/.exec(l);
    if (!m) continue;
    if (m[1] !== prev) {
      total += groupMax;
      groupMax = 0;
      prev = m[1];
    }
    groupMax = Math.max(groupMax, Number(m[2]));
  }
  return total + groupMax;
}
const unionMs = (intervals) => {
  const v = intervals.map((a) => [a.t0, a.t0 + a.ms]).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let cur = null;
  for (const [s, e] of v) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else cur[1] = Math.max(cur[1], e);
  }
  return cur ? total + cur[1] - cur[0] : 0;
};

async function scenarioE(row, measured) {
  const since = performance.timeOrigin + performance.now() - 1000;
  const sgLog = row.log;
  sgLog.read(); // skip what came before
  const cpu0 = cpuSeconds(row.pid);
  const muts = await load({ op: 'mutations', target: row.target, host: RAILWAY_HOST, path: '/graphql/v2', body: GQL_DELETE, headers: { authorization: `Bearer ${ACCOUNT_TOKEN}` }, n: P.e.n, capMs: P.e.capMs }, 60_000);
  const cpu = cpuSeconds(row.pid) - cpu0;
  await sleep(100);
  const lines = new Map(sgLog.read().filter((l) => l.msg === 'request' && l.decisionId).map((l) => [l.decisionId, l]));
  const answers = (await upstream({ op: 'fakeAnswers', since })).filter((a) => a.source === 'scopegate-scope-lookup');
  const per = muts.slice(measured ? P.e.skip : 0).map((m) => {
    const l = lines.get(m.decisionId);
    const fake = answers.filter((a) => a.t0 >= m.start - 3 && a.t0 <= m.end + 3);
    const lookupMs = l ? lookupCriticalMs(l.lookups) : NaN;
    const fakeMs = fake.length ? unionMs(fake) : NaN;
    return {
      client: m.ms, duration: l?.durationMs ?? NaN, lookupMs, fakeMs, lookups: l?.lookups?.length ?? 0, fakeAnswers: fake.length,
      minusLookup: (l?.durationMs ?? NaN) - lookupMs, minusFake: (l?.durationMs ?? NaN) - fakeMs,
      denied: m.code === 'SCOPEGATE_DENIED' && l?.decision === 'deny', rule: l?.rule,
      // one lookup round trip, as this call saw it: the median of its lookups' own times
      roundTrip: median((l?.lookups ?? []).map((x) => Number(/ ([\d.]+)ms$/.exec(x)?.[1])).filter(Number.isFinite)),
    };
  });
  const col = (k) => per.map((p) => p[k]);
  return {
    n: per.length, denied: per.filter((p) => p.denied).length, rule: per[0]?.rule,
    client: median(col('client')), clientP99: pct(col('client'), 0.99),
    duration: median(col('duration')), lookupMs: median(col('lookupMs')), fakeMs: median(col('fakeMs')),
    minusLookup: median(col('minusLookup')), minusLookupP99: pct(col('minusLookup').filter(Number.isFinite), 0.99),
    minusFake: median(col('minusFake')), lookups: median(col('lookups')), fakeAnswers: median(col('fakeAnswers')), roundTrip: median(col('roundTrip')),
    cpu, cpuPerReq: (cpu / muts.length) * 1000, rssPeak: memory(row.pid).rss,
  };
}

// BENCH_PROFILE_SCENARIO=a with several scenarios in BENCH_ONLY: the summaries count only the
// samples taken while (a) ran, so (a) is profiled as it runs in mixed traffic
const PROFILE_WINDOW = process.env.BENCH_PROFILE_SCENARIO ?? null;
const windows = {};
const order = PROFILE && ONLY.length === 0 ? ['a'] : ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'gFresh'].filter((x) => ONLY.length === 0 || ONLY.includes(x) || (x === 'gFresh' && ONLY.includes('g')));

// warm-up: every row, every scenario, once, small, not recorded
log('warm-up');
for (const row of active()) {
  const w = async (msg) => load({ ...msg, target: row.target }, 60_000).catch((err) => log(`warm-up ${row.name} ${msg.op}: ${err.message}`));
  const runs = (x) => order.includes(x);
  if (runs('a') || runs('g')) await w({ op: 'keepAlive', host: API_HOST, path: '/graphql/v2', body: GQL_READ, conc: 8, n: 600, capMs: 1500 });
  if (PROFILE && !ONLY.length) continue;
  if (runs('b')) await w({ op: 'newConnection', host: API_HOST, path: '/graphql/v2', body: GQL_READ, conc: 2, n: 30, capMs: 1500 });
  if (runs('c')) await w({ op: 'keepAlive', host: BIG_HOST, path: '/graphql/v2', body: GQL_READ, conc: 4, n: 30, capMs: 1500 });
  if (runs('d')) await w({ op: 'manyHosts', hosts: warmHosts, path: '/graphql/v2', body: GQL_READ, conc: 1, capMs: 3000 });
  if (runs('f')) await w({ op: 'tunnel', caPaths: [pki.caPath], streams: 2, bytes: 8 * 2 ** 20, capMs: 3000 });
  if (row.name === 'scopegate' && runs('e')) await scenarioE(row, false).catch((err) => log(`warm-up e: ${err.message}`));
}
// (e) before/after the traffic lookups (issue 19), side by side in one run: the same build started
// a second time with --traffic-window 0, which makes no traffic lookup (main's decision path)
let sgNoTraffic = null;
if (order.includes('e') && !PROFILE) {
  sgNoTraffic = await startScopegate('-notraffic', ['--traffic-window', '0']);
  sgNoTraffic.name = 'scopegate-no-traffic';
  await scenarioE(sgNoTraffic, false).catch((err) => log(`warm-up e (no traffic): ${err.message}`));
}

for (let round = 0; round < ROUNDS; round++) {
  log(`round ${round + 1}/${ROUNDS} (${((Date.now() - t0Run) / 1000).toFixed(0)} s so far)`);
  for (const s of order) {
    if (s === 'e') {
      const row = active().find((r) => r.name === 'scopegate');
      // alternated each round, so neither always runs first
      const pair = [row, sgNoTraffic].filter(Boolean);
      for (const r of round % 2 === 0 ? pair : pair.reverse()) put('e', r.name, await scenarioE(r, true));
      continue;
    }
    // rotated each round, so no row always runs right after the same other one
    const rowsNow = active();
    const k = round % rowsNow.length;
    for (const row of [...rowsNow.slice(k), ...rowsNow.slice(0, k)]) {
      try {
        await settle(s, row.name);
        const t0 = process.hrtime.bigint();
        const r = await scen[s](row, round);
        // CLOCK_MONOTONIC in µs, the clock of V8's profile timestamps: lets the summary keep one scenario's samples
        if (PROFILE && s === PROFILE_WINDOW) (windows[row.name] ??= []).push([Number(t0 / 1000n), Number(process.hrtime.bigint() / 1000n)]);
        if (r.errors) log(`  ${s} ${row.name}: ${r.errors} error(s), first: ${r.firstError}`);
        put(s, row.name, r);
      } catch (err) {
        log(`  ${s} ${row.name} failed: ${err.message}`);
        put(s, row.name, { failed: String(err.message).slice(0, 200) });
      }
    }
  }
}
log(`measured in ${((Date.now() - t0Run) / 1000).toFixed(0)} s; stopping processes`);

// ---------------------------------------------------------------- reporting

const fmt = (n, d = 2) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(d) : '—');
const fmtInt = (n) => (typeof n === 'number' && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
/** Median over rounds of one field. */
const med = (s, row, k) => median((results[s]?.[row] ?? []).filter((r) => !r.failed).map((r) => r[k]));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN);
const has = (s, row) => (results[s]?.[row] ?? []).some((r) => !r.failed);

if (PROFILE) {
  await stopChild(sg.child, 15_000); // SIGTERM: scopegate drains and exits, and node writes the profile
  await stopAll();
  const profs = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profDir, f)).sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs);
  for (const sc of order) {
    const d = med(sc, 'direct', 'rps');
    const s = med(sc, 'scopegate', 'rps');
    const cpuMs = median((results[sc]?.scopegate ?? []).map((r) => (r.cpu / r.n) * 1000));
    process.stdout.write(`scenario (${sc}) with scopegate under --cpu-prof (slower than usual): direct ${fmtInt(d)} req/s, scopegate ${fmtInt(s)} req/s, scopegate CPU ${fmt(cpuMs, 3)} ms/request (--log-level ${SG_LOG_LEVEL})\n`);
  }
  if (profs.length === 0) {
    process.stdout.write(`no .cpuprofile was written in ${profDir}\n`);
    process.exitCode = 1;
  } else {
    const { summarise } = await import('./profile-summary.mjs');
    const text = summarise(profs[0], 25, windows.scopegate);
    writeFileSync(join(profDir, 'summary.txt'), text);
    process.stdout.write(`profile: ${profs[0]}\n${text}\nsummary written to ${join(profDir, 'summary.txt')}\n`);
  }
  const floorDir = join(profDir, 'floor');
  const floorProfs = existsSync(floorDir) ? readdirSync(floorDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(floorDir, f)).sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs) : [];
  if (rows.some((r) => r.name === 'floor') && floorProfs.length > 0) {
    const { summarise } = await import('./profile-summary.mjs');
    const text = summarise(floorProfs[0], 25, windows.floor);
    writeFileSync(join(floorDir, 'summary.txt'), text);
    process.stdout.write(`\nthe floor's profile: ${floorProfs[0]}\n${text}\n`);
  }
  removeWork();
  clearTimeout(watchdog);
  process.exit(process.exitCode ?? 0);
}

await stopAll();

if (PARTIAL) {
  // a working run: the headline figures per scenario and row, each round shown, nothing written
  for (const sc of order) {
    for (const [row, rs] of Object.entries(results[sc] ?? {})) {
      const k = sc === 'f' ? 'mbps' : sc === 'e' ? 'minusLookup' : sc === 'd' ? 'firstP50' : 'rps';
      const per = rs.map((r) => (r.failed ? 'failed' : fmt(r[k], 1))).join(' ');
      if (sc === 'e') {
        process.stdout.write(`(e) ${row.padEnd(22)} client ${fmt(med(sc, row, 'client'))} ms (p99 ${fmt(med(sc, row, 'clientP99'))})  durationMs ${fmt(med(sc, row, 'duration'))} [${rs.map((r) => fmt(r.duration)).join(' ')}]  lookups ${fmt(med(sc, row, 'lookups'), 0)}  one lookup ${fmt(med(sc, row, 'roundTrip'))} ms  fake answers ${fmt(med(sc, row, 'fakeAnswers'), 0)}  cpu/mutation ${fmt(med(sc, row, 'cpuPerReq'), 3)} ms  denied ${fmt(med(sc, row, 'denied'), 0)}/${fmt(med(sc, row, 'n'), 0)}\n`);
        continue;
      }
      process.stdout.write(`(${sc}) ${row.padEnd(10)} ${k} ${fmt(med(sc, row, k), 1).padStart(8)} [${per}]  p50 ${fmt(med(sc, row, 'p50'))} ms  cpu ${fmt(med(sc, row, 'cpu'))} s (main thread ${fmt(med(sc, row, 'cpuMain'))} s)  rss ${fmt(med(sc, row, 'rssPeak'), 0)} MiB\n`);
    }
  }
  removeWork();
  clearTimeout(watchdog);
  process.exit(0);
}

// in-process supplements, measured after every benchmark process has stopped
let inProcMint = null;
let inProcDecision = null;
let inProcNeon = null;
try {
  inProcMint = await mintInProcess(work);
  const { decisionBench, neonDecisionBench } = await import('./decision.mjs');
  inProcDecision = await decisionBench(10000);
  inProcNeon = await neonDecisionBench(10000);
} catch (err) {
  log(`in-process measurements failed: ${err.message}`);
}

async function mintInProcess(dir) {
  const { createCa } = await import(join(ROOT, 'dist', 'tls', 'ca.js'));
  const { LeafCache } = await import(join(ROOT, 'dist', 'tls', 'leaf-cache.js'));
  const ca = createCa(join(dir, 'mint-ca'));
  const times = [];
  const cache = new LeafCache(ca, { onMint: (ms) => times.push(ms) });
  for (let i = 0; i < 30; i++) cache.contextFor(`warm${i}.example`);
  times.length = 0;
  for (let i = 0; i < 300; i++) cache.contextFor(`host${i}.example`);
  return { median: median(times), p99: pct(times, 0.99) };
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  mem: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  node: process.version,
  kernel: release(),
};
const rowsUsed = rows.filter((r) => !r.skip);
const label = (name) => rows.find((r) => r.name === name)?.label ?? name;

function table(s, cols) {
  const out = [`| row | ${cols.map((c) => c.h).join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
  for (const r of rowsUsed) {
    if (!has(s, r.name)) continue;
    out.push(`| ${label(r.name)} | ${cols.map((c) => c.f(r.name)).join(' | ')} |`);
  }
  for (const r of rows.filter((x) => x.skip)) out.push(`| ${r.label} | skipped: ${r.skip.replace(/\|/g, '/')} |${cols.slice(1).map(() => '').join(' |')}`);
  return out.join('\n');
}
const stdCols = (s, perWhat = 'req') => [
  { h: 'requests/s', f: (n) => fmtInt(med(s, n, 'rps')) },
  { h: 'p50 ms', f: (n) => fmt(med(s, n, 'p50')) },
  { h: 'p99 ms', f: (n) => fmt(med(s, n, 'p99')) },
  { h: 'proxy CPU s', f: (n) => (n === 'direct' ? '—' : fmt(med(s, n, 'cpu'))) },
  { h: `CPU ms/${perWhat}`, f: (n) => (n === 'direct' ? '—' : fmt(median((results[s]?.[n] ?? []).filter((r) => !r.failed).map((r) => (r.cpu / r.n) * 1000)), 3)) },
  { h: 'peak RSS MiB', f: (n) => (n === 'direct' ? '—' : fmt(med(s, n, 'rssPeak'), 0)) },
  { h: 'requests (errors)', f: (n) => `${fmtInt(med(s, n, 'n'))} (${fmtInt(med(s, n, 'errors'))})` },
];
function ratios(s, k = 'rps', word = 'requests/s') {
  const sgv = med(s, 'scopegate', k);
  const parts = [];
  for (const other of ['direct', 'floor', 'mockttp', 'mitmproxy']) {
    if (!has(s, other)) continue;
    parts.push(`scopegate/${other} ${fmt(ratio(sgv, med(s, other, k)))}×`);
  }
  const addP50 = med(s, 'scopegate', 'p50') - med(s, 'direct', 'p50');
  return `Ratios of ${word}: ${parts.join(', ')}.${k === 'rps' && has(s, 'direct') ? ` Added p50 over direct: ${fmt(addP50)} ms (floor: ${fmt(med(s, 'floor', 'p50') - med(s, 'direct', 'p50'))} ms).` : ''}`;
}

// ---- targets
const tgt = [];
const mark = (ok) => (ok === 'info' ? 'not a target: reported' : ok === null ? 'not measured' : ok ? '**met**' : '**not met**');
const add = (what, value, ok) => tgt.push(`| ${what} | ${value} | ${mark(ok)} |`);
const rA = ratio(med('a', 'scopegate', 'rps'), med('a', 'floor', 'rps'));
add('keep-alive guarded reads ≥ 0.85× floor', `${fmt(rA)}×`, Number.isFinite(rA) ? rA >= 0.85 : null);
const addedA = med('a', 'scopegate', 'p50') - med('a', 'direct', 'p50');
add('keep-alive added p50 ≤ 1 ms over direct', `+${fmt(addedA)} ms`, Number.isFinite(addedA) ? addedA <= 1 : null);
const rB = ratio(med('b', 'scopegate', 'rps'), med('b', 'floor', 'rps'));
add('new connection per request ≥ 0.8× floor', `${fmt(rB)}×`, Number.isFinite(rB) ? rB >= 0.8 : null);
const mintE2E = med('d', 'scopegate', 'firstP50') - med('d', 'scopegate', 'laterP50');
const mintMean = med('d', 'scopegate', 'mintMeanMs');
const mintMedian = med('d', 'scopegate', 'mintMedianMs');
add('leaf minting after warm-up ≤ 5 ms median', `the mint, in the proxy: median ≈ ${fmt(mintMedian)} ms (mean ${fmt(mintMean)} ms, ${fmt(med('d', 'scopegate', 'mintUnder5') * 100, 0)}% ≤ 5 ms). End to end, a new host's first request costs ${fmt(mintE2E)} ms more than a later one (p50), of which the floor, which mints nothing, also pays ${fmt(med('d', 'floor', 'firstP50') - med('d', 'floor', 'laterP50'))} ms (the new upstream connection)`, Number.isFinite(mintMedian) ? mintMedian <= 5 : null);
const eMinus = med('e', 'scopegate', 'minusLookup');
add('decision path minus lookup ≤ 1 ms median', `${fmt(eMinus)} ms (minus the fake's own answer time: ${fmt(med('e', 'scopegate', 'minusFake'))} ms)`, Number.isFinite(eMinus) ? eMinus <= 1 : null);
const gRss = Math.max(...(results.gFresh?.scopegate ?? []).filter((r) => !r.failed).map((r) => r.rssPeak));
const gRssLong = Math.max(...(results.g?.scopegate ?? []).filter((r) => !r.failed).map((r) => r.rssPeak));
add('200 concurrent connections ≤ 150 MiB RSS', `${fmt(gRss, 0)} MiB (highest round, a process started for (g)); in the long-lived process, after the bulk scenarios: ${fmt(gRssLong, 0)} MiB (floor ${fmt(Math.max(...(results.g?.floor ?? []).filter((r) => !r.failed).map((r) => r.rssPeak)), 0)} MiB)`, Number.isFinite(gRss) ? gRss <= 150 : null);
const rF = ratio(med('f', 'scopegate', 'mbps'), med('f', 'floor', 'mbps'));
add('tunnels ≥ 0.95× the TCP relay', `${fmt(rF)}×`, Number.isFinite(rF) ? rF >= 0.95 : null);
const rM = ratio(med('a', 'scopegate', 'rps'), med('a', 'mockttp', 'rps'));
add('≥ 3× mockttp keep-alive throughput', `${fmt(rM)}×`, Number.isFinite(rM) ? rM >= 3 : null);
const ahead = [];
const behind = [];
for (const comp of ['mockttp', 'mitmproxy']) {
  if (!has('a', comp)) continue;
  const cmp = [
    ['a req/s', 'a', 'rps', 1], ['b req/s', 'b', 'rps', 1], ['c req/s', 'c', 'rps', 1], ['d first p50', 'd', 'firstP50', -1],
    ['f MiB/s', 'f', 'mbps', 1], ['g req/s', 'g', 'rps', 1],
  ];
  for (const [name, s, k, dir] of cmp) {
    const a = med(s, 'scopegate', k);
    const b = med(s, comp, k);
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    ((dir > 0 ? a >= b : a <= b) ? ahead : behind).push(`${name} vs ${comp}`);
  }
}
add('ahead of mockttp and mitmproxy in every scenario (its throughput or latency)', behind.length ? `behind on: ${behind.join(', ')}` : `ahead on all ${ahead.length} comparisons`, ahead.length + behind.length ? behind.length === 0 : null);
// memory has its own target (≤ 150 MiB above); against the others it is reported, not judged
const memVs = ['mockttp', 'mitmproxy'].filter((c) => has('gFresh', c)).map((c) => `${c} ${fmt(med('gFresh', c, 'rssPeak'), 0)} MiB (${fmt(ratio(med('gFresh', 'scopegate', 'rssPeak'), med('gFresh', c, 'rssPeak')))}×)`);
if (memVs.length) add('peak RSS for (g) on a process started for it, against the others', `scopegate ${fmt(med('gFresh', 'scopegate', 'rssPeak'), 0)} MiB, floor ${fmt(med('gFresh', 'floor', 'rssPeak'), 0)} MiB, ${memVs.join(', ')}`, 'info');

const E = (k) => med('e', 'scopegate', k);
const skipped = rows.filter((r) => r.skip);
const md = `# scopegate benchmark results

Written by \`npm run bench\` (bench/run.mjs) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. How to run and read it: [README.md](README.md).

**Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.mem}, Node ${machine.node}, Linux ${machine.kernel}.
**Run:** ${ROUNDS} round(s); in each round every scenario runs once per row, interleaved in the order ${rowsUsed.map((r) => r.name).join(', ')}, rotated by one each round (so no row always follows the same other); every figure is the **median of rounds**. Loopback only. The load generator, the upstream and each proxy are separate processes sharing ${machine.cores} cores, so absolute numbers are low and noisy: read the ratios.
**scopegate** runs as users run it: \`node ${BIN_NODE_FLAGS.join(' ')}${BIN_NODE_FLAGS.length ? ' ' : ''}dist/cli.js start\` (the node flags of its bin line, what \`npx scopegate\` and the container image run) with \`--log-level ${SG_LOG_LEVEL}\`${SG_LOG_LEVEL === 'info' ? ' (the default: a JSON line per request, here to a file)' : ' (**not the default info**: set by BENCH_SG_LOG_LEVEL for diagnosis)'}, the shipped default policy plus \`"*.${GUARDED_SUFFIX}"\` under providers.railway.hosts, \`--route\` per host, the SQLite audit trail on, \`--hold-timeout 0\`.
**Rows:** direct = the load generator straight to the upstream; floor = bench/floor.mjs (terminates TLS with one certificate from the test CA, forwards with a pooled undici Agent, no inspection; tunnels are a plain net.connect + pipe relay); mockttp = one \`thenPassThrough\` rule, \`recordTraffic: false\`, leaves minted from the test CA, tunnel host in \`tlsPassthrough\`; mitmproxy = \`mitmdump -q\` (no per-flow output), its own CA, upstream verified against the test CA, \`--ignore-hosts\` for the tunnel.${skipped.length ? `\n**Skipped:** ${skipped.map((r) => `${r.name}: ${r.skip}`).join('; ')}.` : ''}
Proxy CPU = utime+stime from /proc/PID/stat before and after each run; peak RSS = /proc/PID/status VmRSS polled every 20 ms during the run (one long-lived process per row across all scenarios, so later scenarios see earlier ones' heap).

## (a) Keep-alive GraphQL reads to a guarded host

POST /graphql/v2 \`{ me { id } }\` to ${API_HOST}, ${P.a.conc} in flight on kept-alive connections (undici ProxyAgent), up to ${P.a.n} requests or ${P.a.capMs / 1000} s, after ${P.a.warm} unmeasured.

${table('a', stdCols('a'))}

${ratios('a')}

## (b) A new CONNECT + TLS handshake per request

Raw CONNECT, a full TLS handshake (no session resumption), one POST with \`Connection: close\`; ${P.b.conc} in flight, up to ${P.b.n} or ${P.b.capMs / 1000} s. Latency is connect-to-last-byte. Direct = TCP + TLS to the upstream.

${table('b', stdCols('b'))}

${ratios('b')}

## (c) 256 KiB responses

The same read to ${BIG_HOST}, whose answer is ${BIG_BYTES / 1024} KiB; ${P.c.conc} in flight, kept alive, up to ${P.c.n} or ${P.c.capMs / 1000} s.

${table('c', [...stdCols('c'), { h: 'MiB/s', f: (n) => fmt(med('c', n, 'mbps'), 0) }])}

${ratios('c')}

## (d) 200 distinct hostnames: leaf minting, first request vs later

Per round ${HOSTS_PER_ROUND} names never seen before (r<round>-h<i>.${GUARDED_SUFFIX}), one at a time: a first request (new CONNECT + TLS: the proxy mints a leaf and opens an upstream connection for the new origin), then a later one on another new connection (cached leaf, pooled upstream). Capped at ${P.d.capMs / 1000} s per row and round (hosts done is shown). The floor presents one wildcard certificate (no minting), so floor's first − later is the cost of everything but minting.

${table('d', [
  { h: 'first p50 ms', f: (n) => fmt(med('d', n, 'firstP50')) },
  { h: 'first p99 ms', f: (n) => fmt(med('d', n, 'firstP99')) },
  { h: 'later p50 ms', f: (n) => fmt(med('d', n, 'laterP50')) },
  { h: 'later p99 ms', f: (n) => fmt(med('d', n, 'laterP99')) },
  { h: 'first − later p50 ms', f: (n) => fmt(med('d', n, 'firstP50') - med('d', n, 'laterP50')) },
  { h: 'requests/s', f: (n) => fmtInt(med('d', n, 'rps')) },
  { h: 'proxy CPU s', f: (n) => (n === 'direct' ? '—' : fmt(med('d', n, 'cpu'))) },
  { h: 'peak RSS MiB', f: (n) => (n === 'direct' ? '—' : fmt(med('d', n, 'rssPeak'), 0)) },
  { h: 'hosts done (errors)', f: (n) => `${fmtInt(med('d', n, 'hostsDone'))} (${fmtInt(med('d', n, 'errors'))})` },
])}

scopegate's own mint time (its scopegate_leaf_mint_seconds histogram, scraped before and after each round): median ≈ ${fmt(mintMedian)} ms (interpolated within the histogram's buckets), mean ${fmt(mintMean)} ms, ${fmt(med('d', 'scopegate', 'mintUnder5') * 100, 0)}% at or under 5 ms, over ${fmtInt(med('d', 'scopegate', 'mints'))} mints per round.${inProcMint ? ` In process (dist/tls/leaf-cache.js, after 30 warm-up mints, 300 hosts): median ${fmt(inProcMint.median)} ms, p99 ${fmt(inProcMint.p99)} ms.` : ''}
Ratio of first-request p50: ${['floor', 'mockttp', 'mitmproxy'].filter((o) => has('d', o)).map((o) => `scopegate/${o} ${fmt(ratio(med('d', 'scopegate', 'firstP50'), med('d', o, 'firstP50')))}×`).join(', ')} (lower is better).

## (e) A guarded destructive mutation's full decision path (scopegate only)

\`mutation { volumeDelete(volumeId: "vol-7f3a9d") }\` to ${RAILWAY_HOST} with the fake Railway's account token, one at a time on a kept-alive connection with 15 ms between calls (so requests/s says nothing here), ${P.e.n - P.e.skip} per round after ${P.e.skip} unmeasured. scopegate looks the volume up live (destructive: never cached) and denies it (rule \`${results.e?.scopegate?.[0]?.rule ?? '?'}\`: the volume is shared with production). The other rows would forward the mutation, so they have no equivalent.

| measure (median of rounds of per-request medians) | ms |
|---|---:|
| client total (send to last byte) | ${fmt(E('client'))} |
| client total, p99 | ${fmt(E('clientP99'))} |
| scopegate's \`durationMs\` (its log line) | ${fmt(E('duration'))} |
| the lookups' own time, as scopegate logs them (\`lookups\`, ${fmt(E('lookups'), 0)} per call; parallel ones counted once) | ${fmt(E('lookupMs'))} |
| the fake's own answer time (timed inside the fake, ${fmt(E('fakeAnswers'), 0)} answers, overlap counted once) | ${fmt(E('fakeMs'))} |
| **decision path minus the lookups** (\`durationMs\` − logged lookup time) | **${fmt(eMinus)}** |
| decision path minus the lookups, p99 | ${fmt(E('minusLookupP99'))} |
| \`durationMs\` − the fake's own answer time (also counts the lookups' trips through undici and TLS) | ${fmt(E('minusFake'))} |
| proxy CPU per mutation (lookups included) | ${fmt(E('cpuPerReq'), 3)} |
| proxy CPU for the round's ${P.e.n} mutations, seconds | ${fmt(E('cpu'))} |
| proxy RSS after the round, MiB | ${fmt(E('rssPeak'), 0)} |

Denied as expected: ${fmtInt(median((results.e?.scopegate ?? []).map((r) => r.denied)))} of ${fmtInt(median((results.e?.scopegate ?? []).map((r) => r.n)))} per round.${inProcDecision ? ` In process, without a lookup (bench/decision.mjs: decode + extract + parse + classify + policy, ${inProcDecision.bytes}-byte mutation): median ${fmt(inProcDecision.plain.median * 1000, 1)} µs, p99 ${fmt(inProcDecision.plain.p99 * 1000, 1)} µs; gzip median ${fmt(inProcDecision.gzip.median * 1000, 1)} µs.` : ''}${inProcNeon ? ` A Neon REST call (bench/decision.mjs neonDecisionBench: path matched against the 163-operation catalogue, query and ${inProcNeon.bytes}-byte JSON body read as Neon's server reads them, payload classed, policy): median ${fmt(inProcNeon.median * 1000, 1)} µs, p99 ${fmt(inProcNeon.p99 * 1000, 1)} µs.` : ''}

${has('e', 'scopegate-no-traffic') ? `### (e) before and after the traffic lookups (issue 19)

The same build, side by side in the same rounds (order alternated each round): \`scopegate\` as shipped (\`--traffic-window 15m\`: per call one \`httpMetrics\` and one \`metrics\` lookup, started with the backups lookups) and a second process with \`--traffic-window 0\`, which makes no traffic lookup (the decision path before issue 19).

| measure (median of rounds) | without traffic | with traffic | difference |
|---|---:|---:|---:|
| client total, ms | ${fmt(med('e', 'scopegate-no-traffic', 'client'))} | ${fmt(E('client'))} | ${fmt(E('client') - med('e', 'scopegate-no-traffic', 'client'))} |
| client total p99, ms | ${fmt(med('e', 'scopegate-no-traffic', 'clientP99'))} | ${fmt(E('clientP99'))} | ${fmt(E('clientP99') - med('e', 'scopegate-no-traffic', 'clientP99'))} |
| scopegate's \`durationMs\` | ${fmt(med('e', 'scopegate-no-traffic', 'duration'))} | ${fmt(E('duration'))} | ${fmt(E('duration') - med('e', 'scopegate-no-traffic', 'duration'))} |
| lookups per call | ${fmt(med('e', 'scopegate-no-traffic', 'lookups'), 0)} | ${fmt(E('lookups'), 0)} | |
| one lookup round trip (median of a call's lookups), ms | ${fmt(med('e', 'scopegate-no-traffic', 'roundTrip'))} | ${fmt(E('roundTrip'))} | |
| proxy CPU per mutation, ms | ${fmt(med('e', 'scopegate-no-traffic', 'cpuPerReq'), 3)} | ${fmt(E('cpuPerReq'), 3)} | ${fmt(E('cpuPerReq') - med('e', 'scopegate-no-traffic', 'cpuPerReq'), 3)} |

The budget is one more lookup round trip on the destructive decision path: the difference in \`durationMs\` (${fmt(E('duration') - med('e', 'scopegate-no-traffic', 'duration'))} ms) against one round trip (${fmt(E('roundTrip'))} ms).

` : ''}## (f) A tunnel to a host that is not guarded: large transfers

${P.f.streams} parallel downloads of ${P.f.bytes / 2 ** 20} MiB each, TLS end to end (client ⇄ upstream, SNI ${TUNNEL_SNI}), through CONNECT 127.0.0.1:<bulk port>: every proxy relays bytes (scopegate reads the ClientHello's SNI first, and relays only because \`--route ${TUNNEL_SNI}=127.0.0.1:<bulk port>\` says that name is that address). p50/p99 here are connect-to-handshake-done.

${table('f', [
  { h: 'MiB/s', f: (n) => fmt(med('f', n, 'mbps'), 0) },
  { h: 'setup p50 ms', f: (n) => fmt(med('f', n, 'p50')) },
  { h: 'setup p99 ms', f: (n) => fmt(med('f', n, 'p99')) },
  { h: 'stream p50 s', f: (n) => fmt(med('f', n, 'streamP50') / 1000) },
  { h: 'proxy CPU s', f: (n) => (n === 'direct' ? '—' : fmt(med('f', n, 'cpu'))) },
  { h: 'CPU s/GiB', f: (n) => (n === 'direct' ? '—' : fmt(median((results.f?.[n] ?? []).filter((r) => !r.failed).map((r) => r.cpu / ((r.mbps * r.secs) / 1024))), 2)) },
  { h: 'peak RSS MiB', f: (n) => (n === 'direct' ? '—' : fmt(med('f', n, 'rssPeak'), 0)) },
  { h: 'streams (errors)', f: (n) => `${fmtInt(med('f', n, 'n'))} (${fmtInt(med('f', n, 'errors'))})` },
])}

${ratios('f', 'mbps', 'MiB/s')}

## (g) 200 concurrent kept-alive connections

${P.g.conc} connections opened at once (ProxyAgent with ${P.g.conc} connections), ${P.g.n / P.g.conc} requests each (${P.g.n} in all), then held open ${P.g.holdMs / 1000} s while RSS is polled. Peak open fds (/proc/PID/fd) shows the connections were held: client side plus upstream side.

${table('g', [...stdCols('g'), { h: 'peak open fds', f: (n) => (n === 'direct' ? '—' : fmtInt(med('g', n, 'fdPeak'))) }])}

${ratios('g')} Peak RSS: ${['floor', 'mockttp', 'mitmproxy'].filter((o) => has('g', o)).map((o) => `scopegate/${o} ${fmt(ratio(med('g', 'scopegate', 'rssPeak'), med('g', o, 'rssPeak')))}×`).join(', ')}.

The same, on a process of each row started for it (warmed with 600 kept-alive reads), because a
Node or Python process does not hand memory back after the bulk scenarios (c) and (f): in the
long-lived process above, peak RSS is their high-water mark as much as the 200 connections'.

${table('gFresh', [...stdCols('gFresh'), { h: 'RSS before MiB', f: (n) => (n === 'direct' ? '—' : fmt(med('gFresh', n, 'rssBefore'), 0)) }, { h: 'peak open fds', f: (n) => (n === 'direct' ? '—' : fmtInt(med('gFresh', n, 'fdPeak'))) }])}

Peak RSS, processes started for (g): ${['floor', 'mockttp', 'mitmproxy'].filter((o) => has('gFresh', o)).map((o) => `scopegate/${o} ${fmt(ratio(med('gFresh', 'scopegate', 'rssPeak'), med('gFresh', o, 'rssPeak')))}×`).join(', ')}.

## Targets

| target | measured | |
|---|---|---|
${tgt.join('\n')}

"Ahead" compares medians of rounds of each scenario's throughput or latency: requests/s (a, b, c, g), MiB/s (f), first-request p50 (d, lower is better). Memory is judged by its own target (≤ 150 MiB for (g)); against mockttp and mitmproxy it is reported in the row after, not judged: mitmproxy's Python process is smaller than scopegate's, and smaller than the bare Node floor's too.
`;

// bench/preflight.mjs writes its own section (h); a full run keeps it as it was
const previous = existsSync(join(BENCH, 'RESULTS.md')) ? readFileSync(join(BENCH, 'RESULTS.md'), 'utf8') : '';
const kept = previous.indexOf(PREFLIGHT_START) >= 0 && previous.indexOf(PREFLIGHT_END) > previous.indexOf(PREFLIGHT_START) ? previous.slice(previous.indexOf(PREFLIGHT_START), previous.indexOf(PREFLIGHT_END) + PREFLIGHT_END.length) : null;
writeFileSync(join(BENCH, 'RESULTS.md'), kept ? placeSection(md, kept) : md);
// bench/store.mjs writes the hold-store section (it needs PostgreSQL); a full run keeps it too
const storeSection = /<!-- store-bench[\s\S]*?<!-- \/store-bench -->/.exec(previous)?.[0];
if (storeSection) writeFileSync(join(BENCH, 'RESULTS.md'), `${readFileSync(join(BENCH, 'RESULTS.md'), 'utf8').trimEnd()}\n\n${storeSection}\n`);
process.stdout.write(md);
removeWork();
clearTimeout(watchdog);
log(`done in ${((Date.now() - t0Run) / 1000).toFixed(0)} s`);
process.exit(0);
