// Benchmarks for scopegate: run with `npm run bench`. Loopback only, bounded in count and time.
// Compares side by side in one run (interleaved rounds), reports medians and ratios, and writes
// bench/RESULTS.md. Timings are never asserted anywhere: this machine is shared and noisy.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, ProxyAgent, request } from 'undici';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOST = 'backboard.railway.com';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const CONCURRENCY = 8;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

function pki(dir) {
  const run = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bench CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 's.key', '-out', 's.csr', '-subj', `/CN=${HOST}`);
  writeFileSync(join(dir, 'ext'), `subjectAltName=DNS:${HOST}\nauthorityKeyIdentifier=keyid\n`);
  run('x509', '-req', '-in', 's.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 's.pem', '-days', '2', '-extfile', 'ext');
  return { ca: join(dir, 'ca.pem'), cert: readFileSync(join(dir, 's.pem')), key: readFileSync(join(dir, 's.key')) };
}

async function startUpstream(p) {
  const body = JSON.stringify({ data: { me: { id: 'u1', email: 'agent@example.com' } } });
  const srv = createServer({ cert: p.cert, key: p.key }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  srv.keepAliveTimeout = 60_000;
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, port: srv.address().port };
}

async function startScopegate(work, p, upstreamPort) {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0',
    '--ca-dir', join(work, 'ca'), '--data-dir', join(work, 'data'), '--upstream-ca', p.ca, '--route', `${HOST}=127.0.0.1:${upstreamPort}`, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => { err += c; });
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`scopegate did not start: ${err}`)), 15_000);
    const check = () => {
      const m = /proxy http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
      if (m) { clearTimeout(t); resolve(Number(m[1])); } else setTimeout(check, 50);
    };
    check();
  });
  return { child, port, caPem: readFileSync(join(work, 'ca', 'ca.pem'), 'utf8') };
}

/** REQUESTS keep-alive GraphQL reads with CONCURRENCY in flight; returns req/s and latencies. */
async function loop(dispatcher) {
  const lat = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < REQUESTS) {
      next++;
      const t = performance.now();
      const res = await request(`https://${HOST}/graphql/v2`, { dispatcher, method: 'POST', body: '{"query":"query { me { id email } }"}', headers: { 'content-type': 'application/json' } });
      await res.body.text();
      lat.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (performance.now() - started) / 1000;
  return { rps: REQUESTS / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

async function mintBench(work) {
  const { createCa } = await import(join(ROOT, 'dist', 'tls', 'ca.js'));
  const { LeafCache } = await import(join(ROOT, 'dist', 'tls', 'leaf-cache.js'));
  const ca = createCa(join(work, 'mint-ca'));
  const times = [];
  const cache = new LeafCache(ca, { onMint: (ms) => times.push(ms) });
  for (let i = 0; i < 20; i++) cache.contextFor(`warm${i}.example`);
  times.length = 0;
  for (let i = 0; i < 500; i++) cache.contextFor(`host${i}.example`);
  const hitStart = performance.now();
  for (let i = 0; i < 10000; i++) cache.contextFor(`host${i % 500}.example`);
  const hitUs = ((performance.now() - hitStart) / 10000) * 1000;
  return { median: median(times), p99: pct(times, 0.99), hitUs };
}

const work = mkdtempSync(join(tmpdir(), 'sg-bench-'));
const p = pki(work);
const up = await startUpstream(p);
const sg = await startScopegate(work, p, up.port);
try {
  const mint = await mintBench(work);
  const { decisionBench } = await import('./decision.mjs');
  const decision = await decisionBench();
  const ca = readFileSync(p.ca, 'utf8');
  const direct = new Agent({ connect: { ca, servername: HOST, lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) }, connections: CONCURRENCY });
  // direct goes to the upstream's port: rewrite the origin through a tiny interceptor
  const directDispatcher = direct.compose((dispatch) => (opts, handler) => dispatch({ ...opts, origin: `https://${HOST}:${up.port}` }, handler));
  const proxied = new ProxyAgent({ uri: `http://127.0.0.1:${sg.port}`, requestTls: { ca: sg.caPem }, connections: CONCURRENCY });
  await loop(directDispatcher); await loop(proxied); // warm-up
  const rows = { direct: [], scopegate: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rows.direct.push(await loop(directDispatcher));
    rows.scopegate.push(await loop(proxied));
  }
  await direct.close(); await proxied.close();
  const summary = (xs) => ({ rps: median(xs.map((x) => x.rps)), p50: median(xs.map((x) => x.p50)), p99: median(xs.map((x) => x.p99)) });
  const d = summary(rows.direct);
  const s = summary(rows.scopegate);
  const fmt = (n, digits = 2) => n.toFixed(digits);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  const out = `# scopegate benchmark results

Written by \`npm run bench\` (bench/run.mjs) on ${new Date().toISOString().slice(0, 10)}; machine: ${machine}.
Loopback only; ${ROUNDS} interleaved rounds of ${REQUESTS} keep-alive POST GraphQL reads, ${CONCURRENCY} in flight; medians of rounds.

## Keep-alive reads to a guarded host

| path | requests/s | p50 ms | p99 ms |
|---|---|---|---|
| direct to the upstream | ${fmt(d.rps, 0)} | ${fmt(d.p50)} | ${fmt(d.p99)} |
| through scopegate (intercepted) | ${fmt(s.rps, 0)} | ${fmt(s.p50)} | ${fmt(s.p99)} |
| ratio scopegate / direct | ${fmt(s.rps / d.rps)} | +${fmt(s.p50 - d.p50)} ms | |

## Leaf certificate minting (in process)

| measure | value |
|---|---|
| mint for a new host, median | ${fmt(mint.median)} ms |
| mint, p99 | ${fmt(mint.p99)} ms |
| cache hit | ${fmt(mint.hitUs)} µs |

## Decision cost without the live lookup (in process)

decode + extract + parse + classify + policy for a ${decision.bytes}-byte mutation with two root fields.

| body | median | p99 |
|---|---|---|
| plain JSON | ${fmt(decision.plain.median * 1000, 1)} µs | ${fmt(decision.plain.p99 * 1000, 1)} µs |
| gzip | ${fmt(decision.gzip.median * 1000, 1)} µs | ${fmt(decision.gzip.p99 * 1000, 1)} µs |
`;
  writeFileSync(join(ROOT, 'bench', 'RESULTS.md'), out);
  process.stdout.write(out);
} finally {
  sg.child.kill('SIGTERM');
  up.srv.close();
  up.srv.closeAllConnections();
}
