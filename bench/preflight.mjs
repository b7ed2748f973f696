// The cost of a pre-flight check (issue 20): `node bench/preflight.mjs` after `npm run build`.
//
// One `scopegate start` process (the shipped default policy) in front of the fake Railway (in this
// process, on loopback), and this process as the agent, on the incident call (volumeDelete of the
// volume shared by production and staging). Measured, one at a time:
//   check      POST /v1/check of the call, path-form               (what an agent pays to look first)
//   call       the call itself through the proxy, denied            (what it pays without looking)
//   read check POST /v1/check of a read: no lookup, the door's own cost
//   scope      POST /v1/scope of the volume
// and 8 identical checks at once: how many lookups reach the provider (in-flight lookups are joined
// with each other and with real calls; destructive ones are never served from the cache).
// Server-side times come from scopegate's own log line of each request (`durationMs`, `lookups`);
// the provider's lookups are counted at the fake. Timings are reported, never asserted.
//
// Writes its section of bench/RESULTS.md (between the preflight markers; bench/run.mjs keeps it),
// unless BENCH_PREFLIGHT_STDOUT=1. Every process started here is stopped by its pid.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, ProxyAgent, request } from 'undici';
import { BENCH, RAILWAY_HOST, ROOT, binNodeFlags, makeTestCa, median, pct, sleep } from './lib.mjs';

const N = Math.max(5, Math.min(500, Number(process.env.BENCH_PREFLIGHT_N ?? 60) || 60));
const WARM = 5;
const CONCURRENT = 8;
const ACCOUNT = 'tok-account-owner'; // POCKETOS.token.account of the fake Railway
const INCIDENT = { query: 'mutation cleanupStaging($id: String!) { volumeDelete(volumeId: $id) }', variables: { id: 'vol-7f3a9d' } };
const READ = { query: 'query { me { id } }' };
export const START = '<!-- preflight:start -->';
export const END = '<!-- preflight:end -->';

const log = (...a) => process.stderr.write(`[preflight] ${a.join(' ')}\n`);

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'sg-bench-preflight-'));
  const ca = makeTestCa(work, 'scopegate preflight bench CA');
  const leaf = ca.leaf('railway', RAILWAY_HOST, `DNS:${RAILWAY_HOST},IP:127.0.0.1`);
  const { startFakeRailway } = await import(join(ROOT, 'dist', 'demo', 'fake-railway', 'index.js'));
  const fake = await startFakeRailway({ cert: readFileSync(leaf.certPath, 'utf8'), key: readFileSync(leaf.keyPath, 'utf8') });
  const logPath = join(work, 'scopegate.log');
  const out = openSync(logPath, 'w');
  const child = spawn(process.execPath, [
    ...binNodeFlags(), join(ROOT, 'dist', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0',
    '--policy', join(ROOT, 'policies', 'default.yaml'), '--ca-dir', join(work, 'ca'), '--data-dir', join(work, 'data'),
    '--upstream-ca', ca.caPath, '--route', `${RAILWAY_HOST}=127.0.0.1:${fake.port}`, '--hold-timeout', '0',
    '--check-concurrency', String(CONCURRENT), '--log-level', 'info',
  ], { stdio: ['ignore', out, 'pipe'] });
  closeSync(out);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const lines = () => readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
  let listen;
  for (let i = 0; i < 300 && !listen; i++) {
    if (child.exitCode !== null) throw new Error(`scopegate exited (${child.exitCode}): ${stderr}`);
    listen = lines().find((l) => l.msg === 'listening')?.listen;
    if (!listen) await sleep(50);
  }
  if (!listen) throw new Error(`scopegate did not listen within 15 s: ${stderr}`);
  const base = `http://${listen}`;
  const direct = new Agent({ connections: CONCURRENT });
  const proxy = new ProxyAgent({ uri: base, requestTls: { ca: readFileSync(join(work, 'ca', 'ca.pem'), 'utf8') } });
  const headers = { authorization: `Bearer ${ACCOUNT}` };

  const post = async (path, body) => {
    const t = performance.now();
    const res = await request(`${base}${path}`, { dispatcher: direct, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = await res.body.json();
    return { ms: performance.now() - t, id: res.headers['x-scopegate-decision'], json };
  };
  const realCall = async () => {
    const t = performance.now();
    const res = await request(`https://${RAILWAY_HOST}/graphql/v2`, { dispatcher: proxy, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(INCIDENT) });
    const json = await res.body.json();
    return { ms: performance.now() - t, id: res.headers['x-scopegate-decision'], code: json.errors?.[0]?.extensions?.code };
  };
  const kinds = {
    check: () => post('/v1/check', { host: RAILWAY_HOST, path: '/graphql/v2', headers, body: INCIDENT }),
    call: realCall,
    'read check': () => post('/v1/check', { host: RAILWAY_HOST, path: '/graphql/v2', headers, body: READ }),
    scope: () => post('/v1/scope', { provider: 'railway', type: 'volume', id: 'vol-7f3a9d', headers }),
  };
  const rows = {};
  try {
    for (const [name, fn] of Object.entries(kinds)) for (let i = 0; i < WARM; i++) await fn();
    // interleaved, so a slow moment of the shared machine lands on every kind alike
    const samples = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
    for (let i = 0; i < N; i++) {
      for (const [name, fn] of Object.entries(kinds)) {
        const before = fake.received.length;
        const r = await fn();
        samples[name].push({ ...r, provider: fake.received.length - before });
      }
    }
    await sleep(200);
    const byId = new Map(lines().filter((l) => l.decisionId).map((l) => [l.decisionId, l]));
    for (const [name, list] of Object.entries(samples)) {
      const logged = list.map((s) => byId.get(s.id)).filter(Boolean);
      rows[name] = {
        n: list.length,
        client: median(list.map((s) => s.ms)),
        clientP99: pct(list.map((s) => s.ms), 0.99),
        server: median(logged.map((l) => l.durationMs)),
        lookups: median(logged.map((l) => (l.lookups ?? []).length)),
        provider: median(list.map((s) => s.provider)),
        decision: name === 'call' ? list[0]?.code : name === 'scope' ? list[0]?.json?.scope?.summary : `${list[0]?.json?.decision} (${list[0]?.json?.rule})`,
      };
    }
    // identical checks at once: joined lookups
    const joined = [];
    for (let round = 0; round < 10; round++) {
      const before = fake.received.length;
      const t = performance.now();
      const all = await Promise.all(Array.from({ length: CONCURRENT }, () => kinds.check()));
      joined.push({ ms: performance.now() - t, provider: fake.received.length - before, ok: all.every((a) => a.json.decision === 'deny') });
    }
    rows.concurrent = { n: joined.length, wall: median(joined.map((j) => j.ms)), provider: median(joined.map((j) => j.provider)), ok: joined.every((j) => j.ok) };
  } finally {
    await proxy.close();
    await direct.close();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    await fake.stop();
    if (!process.env.BENCH_KEEP_WORK) rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');

function section(rows) {
  const c = rows.check;
  const call = rows.call;
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  return [
    START,
    '## (h) The cost of a pre-flight check (bench/preflight.mjs)',
    '',
    `\`node bench/preflight.mjs\`: one scopegate process (shipped default policy) in front of the fake Railway, the incident call (volumeDelete of the volume shared by production and staging, account token), ${rows.check.n} of each kind, interleaved, one at a time, after ${WARM} of each to warm up; medians. "server" is scopegate's own \`durationMs\` of the request's log line; "lookups" the lookups that line lists; "provider requests" what reached the fake Railway. ${machine}; loopback; this machine is shared: read the ratios.`,
    '',
    '| request | answer | client p50 ms | client p99 ms | server p50 ms | lookups | provider requests |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...['check', 'call', 'read check', 'scope'].map((k) => {
      const r = rows[k];
      const label = { check: 'POST /v1/check of the call', call: 'the call itself, through the proxy', 'read check': 'POST /v1/check of a read', scope: 'POST /v1/scope of the volume' }[k];
      return `| ${label} | ${String(r.decision ?? '').replace(/\|/g, '/')} | ${f(r.client)} | ${f(r.clientP99)} | ${f(r.server)} | ${f(r.lookups, 0)} | ${f(r.provider, 0)} |`;
    }),
    '',
    `**A check costs what the call's own decision costs, and executes nothing**: ${f(c.client)} ms at the client against ${f(call.client)} ms for the call (${f(c.client / call.client)}×), with the same ${f(c.lookups, 0)} live lookups (destructive calls are never answered from the lookup cache). A read is checked in ${f(rows['read check'].client)} ms: no lookup. ${CONCURRENT} identical checks at once reached the provider with ${f(rows.concurrent.provider, 0)} requests in all (${f(rows.concurrent.provider / CONCURRENT)} per check, against ${f(c.provider, 0)} for one alone: in-flight lookups are joined), in ${f(rows.concurrent.wall)} ms wall time${rows.concurrent.ok ? '' : ' (NOTE: not every answer was deny)'}. One caller may have \`--check-concurrency\` (default 4) checks in flight; more are answered 429.`,
    END,
  ].join('\n');
}

/** Put the section into RESULTS.md in place of the previous one (or at the end). */
export function placeSection(md, block) {
  const a = md.indexOf(START);
  const b = md.indexOf(END);
  if (a >= 0 && b > a) return `${md.slice(0, a)}${block}${md.slice(b + END.length)}`;
  return `${md.trimEnd()}\n\n${block}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const watchdog = setTimeout(() => {
    log('gave up after 5 minutes');
    process.exit(1);
  }, 5 * 60_000);
  watchdog.unref();
  main().then(
    (rows) => {
      const block = section(rows);
      process.stdout.write(`${block}\n`);
      if (process.env.BENCH_PREFLIGHT_STDOUT !== '1') {
        const path = join(BENCH, 'RESULTS.md');
        writeFileSync(path, placeSection(existsSync(path) ? readFileSync(path, 'utf8') : '', block));
        log(`wrote ${path}`);
      }
    },
    (err) => {
      log(err.stack ?? String(err));
      process.exitCode = 1;
    },
  );
}
