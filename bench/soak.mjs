#!/usr/bin/env node
// scopegate soak: the real `scopegate start` process, the shipped default policy, a fake Railway and
// a non-guarded HTTPS echo host, under steady mixed traffic for SOAK_SECONDS. Loopback only; every
// loop is bounded in rate and time; every process started here is stopped by its pid at the end,
// also on failure. Needs `npm run build` first (it runs dist/).
//
//   SOAK_SECONDS=180   load duration (default 180)
//   SOAK_RATE=1        multiplies every client's rate (default 1: ~22 requests/s in all)
//   SOAK_SCOPEGATE_NODE_OPTIONS="…"  NODE_OPTIONS for the scopegate process only (e.g. --require
//                      $PWD/bench/leak-per-request.cjs, the deliberate leak that shows the memory check works)
//   --record           append the summary to docs/fuzz-and-soak.md
//
// Clients (each its own loop at a fixed pace, undici ProxyAgent through scopegate):
//   reads        POST `{ me { id } }` and a project read                    → allow
//   upserts      variableUpsert of one of 8 SOAK_n variables in staging     → allow (resolved scope: staging)
//   denied       volumeDelete on the volume production shares               → deny
//   holds        volumeDelete on the staging-only volume                    → hold; of each three holds one
//                is approved through the admin API and the identical call retried (→ allow, forwarded,
//                the fake deletes the volume and the world is reset), one denied, one left pending
//   tunnels      a fresh ProxyAgent (CONNECTs to tunnel.test: not guarded, routed to a local HTTPS
//                echo) per three requests, bodies echoed byte for byte; every tunnel log line → tunnel
//   websockets   a CONNECT tunnel with TLS, ws + graphql-transport-ws: a read (→ allow, next+complete),
//                a variableUpsert (→ allow) and a volumeDelete on the shared volume (→ deny, error)
//
// Every 10 s: scopegate's RSS and open descriptors (/proc/PID), its V8 heap (its own /metrics), and its decision log so far
// (JSON lines on stdout): `decision: "error"` lines and decisions per request class. At the end:
// descriptors back within FD_MARGIN of the idle level once keep-alives have closed; RSS under
// RSS_CEILING_MIB throughout and the live heap's growth under LIVE_BOUND_MIB; no decision errors; every request got
// the decision its class expects (matched by the X-Scopegate-Decision id, or counted per websocket
// message class). Exit 0 when every check holds.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { ProxyAgent, request } from 'undici';
import WebSocket from 'ws';
import { binNodeFlags, makeTestCa } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Math.max(10, Number(process.env.SOAK_SECONDS ?? 180) || 180);
const RATE = Math.max(0.1, Math.min(10, Number(process.env.SOAK_RATE ?? 1) || 1));
const RECORD = process.argv.includes('--record');
const SAMPLE_MS = 10_000;
const COOLDOWN_MS = 12_000; // keep-alives: undici 4 s client side, Node servers 5 s
const FD_MARGIN = 4;
// Memory, two bounds. RSS never above RSS_CEILING_MIB (bench/RESULTS.md: 200 concurrent connections
// need ~130 MiB; the rest is room for V8's heap reservation, which grows to about twice the live
// heap under load and is handed back when idle). The live heap — V8 heap in use after a full GC,
// scopegate_heap_live_bytes — grows less than LIVE_BOUND_MIB from the first minute to the end: a
// leak of a few hundred bytes per call shows there within minutes, where RSS hides it behind the
// reservation.
const RSS_CEILING_MIB = 192;
const LIVE_BOUND_MIB = 8;
const WATCHDOG_MS = (SECONDS + 120) * 1000;
const GUARDED = 'backboard.railway.com';
const TUNNEL_HOST = 'tunnel.test';

const { startFakeRailway, pocketOsWorld, POCKETOS } = await import(join(ROOT, 'dist', 'demo', 'fake-railway', 'index.js'));
const AUTH = { authorization: `Bearer ${POCKETOS.token.account}` };
const STAGING = POCKETOS.env.staging;
const SHARED_VOLUME = POCKETOS.volume.pgdata;
const SCRATCH_VOLUME = POCKETOS.volume.scratch;

const log = (...a) => process.stderr.write(`[soak ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

// ------------------------------------------------------------------ processes and servers (stopped at the end)

const work = mkdtempSync(join(tmpdir(), 'sg-soak-'));
let scopegate = null;
let fake = null;
let echo = null;
const echoSockets = new Set();

async function stopAll() {
  if (scopegate && scopegate.exitCode === null && scopegate.signalCode === null) {
    const exited = new Promise((r) => scopegate.once('exit', r));
    try {
      process.kill(scopegate.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(scopegate.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 12_000);
    await exited;
    clearTimeout(t);
  }
  if (fake) await fake.stop().catch(() => {});
  if (echo) {
    for (const s of echoSockets) s.destroy();
    await new Promise((r) => echo.close(() => r()));
  }
  rmSync(work, { recursive: true, force: true });
}
const watchdog = setTimeout(() => {
  log(`watchdog: still running after ${WATCHDOG_MS / 1000} s; stopping everything`);
  void stopAll().finally(() => process.exit(3));
}, WATCHDOG_MS);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: stopping everything`);
    void stopAll().finally(() => process.exit(130));
  });
}

/** An upstream PKI: one test CA, one leaf for all the names. */
function makePki(names) {
  const ca = makeTestCa(work, 'soak upstream test CA');
  const leaf = ca.leaf('server', names[0], names.map((n) => `DNS:${n}`).join(','));
  return { caPath: ca.caPath, caPem: readFileSync(ca.caPath, 'utf8'), cert: readFileSync(leaf.certPath, 'utf8'), key: readFileSync(leaf.keyPath, 'utf8') };
}

/** The non-guarded host: HTTPS, echoes the request body (and says how long it was). */
async function startEcho(pki) {
  const srv = createHttpsServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-echo-length': String(body.length) });
      res.end(body);
    });
  });
  srv.on('secureConnection', (s) => {
    echoSockets.add(s);
    s.on('close', () => echoSockets.delete(s));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return srv;
}

// ------------------------------------------------------------------ scopegate's log

/** decisionId → the decision line; counts per message kind. */
const byDecisionId = new Map();
const logStats = { lines: 0, requestLines: 0, wsLines: 0, tunnelLines: 0, errorDecisions: 0, errorLevel: 0, wsByKey: new Map(), tunnelsByDecision: new Map(), errorSamples: [] };
function onLogLine(line) {
  let l;
  try {
    l = JSON.parse(line);
  } catch {
    return;
  }
  logStats.lines++;
  if (l.level === 'error' || l.level === 'fatal') {
    logStats.errorLevel++;
    if (logStats.errorSamples.length < 5) logStats.errorSamples.push(line.slice(0, 400));
  }
  if (l.decision === 'error') {
    logStats.errorDecisions++;
    if (logStats.errorSamples.length < 5) logStats.errorSamples.push(line.slice(0, 400));
  }
  if (l.msg === 'request') {
    logStats.requestLines++;
    if (l.decisionId) byDecisionId.set(l.decisionId, { decision: l.decision, rule: l.rule, operation: l.operation, status: l.status });
  } else if (l.msg === 'websocket message') {
    logStats.wsLines++;
    const k = `${l.operation ?? '?'}:${l.decision}`;
    logStats.wsByKey.set(k, (logStats.wsByKey.get(k) ?? 0) + 1);
  } else if (l.msg === 'tunnel') {
    logStats.tunnelLines++;
    const k = `${l.host}:${l.decision}${l.error ? ` (${String(l.error).slice(0, 60)})` : ''}`;
    logStats.tunnelsByDecision.set(k, (logStats.tunnelsByDecision.get(k) ?? 0) + 1);
  }
}

// ------------------------------------------------------------------ /proc sampling

function procSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  return { rssMiB: Math.round((rssKiB / 1024) * 10) / 10, fds };
}

/** V8 heap used/total and external memory from scopegate's own /metrics (prom-client default metrics). */
async function heapSample(adminUrl, token) {
  try {
    const res = await request(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` }, headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    const metric = (name) => Number(new RegExp(`^scopegate_process_${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
    const mib = (b) => Math.round((b / 2 ** 20) * 10) / 10;
    const live = Number(/^scopegate_heap_live_bytes ([0-9.e+]+)/m.exec(text)?.[1] ?? NaN);
    const majorGcs = Number(/^scopegate_process_nodejs_gc_duration_seconds_count\{kind="major"\} ([0-9.e+]+)/m.exec(text)?.[1] ?? 0);
    return { heapUsedMiB: mib(metric('nodejs_heap_size_used_bytes')), heapTotalMiB: mib(metric('nodejs_heap_size_total_bytes')), externalMiB: mib(metric('nodejs_external_memory_bytes')), liveMiB: mib(live), majorGcs };
  } catch {
    return { heapUsedMiB: NaN, heapTotalMiB: NaN, externalMiB: NaN, liveMiB: NaN, majorGcs: NaN };
  }
}

// ------------------------------------------------------------------ request classes and their outcomes

/** Per class: sent, expected decision seen, unexpected (with samples). */
const classes = new Map();
function cls(name) {
  let c = classes.get(name);
  if (!c) classes.set(name, (c = { sent: 0, ok: 0, unexpected: 0, pendingIds: [], samples: [] }));
  return c;
}
function unexpected(name, what) {
  const c = cls(name);
  c.unexpected++;
  if (c.samples.length < 5) c.samples.push(String(what).slice(0, 300));
}
/** An HTTP answer through scopegate: remember its decision id, to check against the log at the end. */
function expectDecision(name, decisionId, expected, extra) {
  const c = cls(name);
  if (!decisionId) return unexpected(name, `no X-Scopegate-Decision header${extra ? `; ${extra}` : ''}`);
  c.pendingIds.push({ id: decisionId, expected });
}

async function post(agent, body, headers = {}) {
  const res = await request(`https://${GUARDED}/graphql/v2`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH, ...headers },
    body: JSON.stringify(body),
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  const text = await res.body.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, decisionId: res.headers['x-scopegate-decision'], json, text };
}
const code = (j) => j?.errors?.[0]?.extensions?.code ?? (j?.errors ? 'PROVIDER_ERROR' : 'FORWARDED');

// ------------------------------------------------------------------ the clients

let stopping = false;
/** Run `step` every `intervalMs` (a fixed pace, not back to back) until the load stops. */
async function paced(name, intervalMs, step) {
  let next = Date.now();
  let i = 0;
  while (!stopping) {
    try {
      await step(i++);
    } catch (err) {
      unexpected(name, `client error: ${err?.code ?? ''} ${err?.message ?? err}`);
    }
    next += intervalMs / RATE;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    else next = Date.now(); // fell behind: do not burst to catch up
  }
}

async function readsClient(agent) {
  await paced('read', 200, async (i) => {
    const body = i % 2 ? { query: 'query { me { id } }' } : { query: 'query P($id: String!) { project(id: $id) { id name } }', variables: { id: POCKETOS.projectId } };
    const c = cls('read');
    c.sent++;
    const r = await post(agent, body);
    if (r.status !== 200 || code(r.json) !== 'FORWARDED') unexpected('read', `status ${r.status} ${r.text.slice(0, 200)}`);
    expectDecision('read', r.decisionId, 'allow');
  });
}

async function upsertsClient(agent) {
  await paced('upsert (staging)', 250, async (i) => {
    const query = 'mutation($input: VariableUpsertInput!) { variableUpsert(input: $input) }';
    const input = { projectId: POCKETOS.projectId, environmentId: STAGING, serviceId: POCKETOS.svc.api, name: `SOAK_${i % 8}`, value: randomBytes(6).toString('hex'), skipDeploys: true };
    cls('upsert (staging)').sent++;
    const r = await post(agent, { query, variables: { input } });
    if (r.status !== 200 || code(r.json) !== 'FORWARDED' || r.json?.data?.variableUpsert !== true) unexpected('upsert (staging)', `status ${r.status} ${r.text.slice(0, 200)}`);
    expectDecision('upsert (staging)', r.decisionId, 'allow');
  });
}

async function deniedClient(agent) {
  await paced('volumeDelete shared', 400, async (i) => {
    const query = i % 2 ? `mutation { volumeDelete(volumeId: "${SHARED_VOLUME}") }` : `mutation cleanup { staging: volumeDelete(volumeId: "${SHARED_VOLUME}") }`;
    cls('volumeDelete shared').sent++;
    const r = await post(agent, { query });
    if (code(r.json) !== 'SCOPEGATE_DENIED') unexpected('volumeDelete shared', `status ${r.status} ${r.text.slice(0, 200)}`);
    expectDecision('volumeDelete shared', r.decisionId, 'deny');
  });
}

async function admin(adminUrl, token, method, path, body) {
  const res = await request(`${adminUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : null };
}

async function holdsClient(agent, adminUrl, token) {
  const query = `mutation { volumeDelete(volumeId: "${SCRATCH_VOLUME}") }`;
  await paced('volumeDelete staging-only', 1500, async (i) => {
    cls('volumeDelete staging-only').sent++;
    const r = await post(agent, { query });
    const holdId = r.json?.errors?.[0]?.extensions?.holdId;
    if (code(r.json) !== 'SCOPEGATE_HOLD_PENDING' || !holdId) {
      unexpected('volumeDelete staging-only', `status ${r.status} ${r.text.slice(0, 200)}`);
      return;
    }
    expectDecision('volumeDelete staging-only', r.decisionId, 'hold');
    if (i % 3 === 0) {
      const a = await admin(adminUrl, token, 'POST', `/api/holds/${holdId}/approve`, { reason: 'soak: scratch volume, staging only' });
      if (a.status !== 200 || a.json?.status !== 'approved') unexpected('hold approve (admin API)', `status ${a.status} ${JSON.stringify(a.json).slice(0, 200)}`);
      cls('hold approve (admin API)').sent++;
      cls('hold approve (admin API)').ok += a.status === 200 ? 1 : 0;
      cls('approved retry').sent++;
      const retry = await post(agent, { query });
      if (code(retry.json) !== 'FORWARDED' || retry.json?.data?.volumeDelete !== true) unexpected('approved retry', `status ${retry.status} ${retry.text.slice(0, 200)}`);
      expectDecision('approved retry', retry.decisionId, 'allow');
      fake.world = pocketOsWorld(); // the scratch volume is gone upstream now: put the incident's world back
      const used = await admin(adminUrl, token, 'GET', `/api/holds/${holdId}`);
      if (used.json?.status !== 'used') unexpected('approved retry', `hold ${holdId} is ${used.json?.status}, not used`);
    } else if (i % 3 === 1) {
      const d = await admin(adminUrl, token, 'POST', `/api/holds/${holdId}/deny`, { reason: 'soak: no' });
      cls('hold deny (admin API)').sent++;
      if (d.status !== 200 || d.json?.status !== 'denied') unexpected('hold deny (admin API)', `status ${d.status} ${JSON.stringify(d.json).slice(0, 200)}`);
      else cls('hold deny (admin API)').ok++;
    }
  });
}

async function tunnelsClient(proxyUrl, ca, port) {
  await paced('tunnel (tunnel.test)', 600, async () => {
    // a fresh ProxyAgent: one CONNECT per three requests
    const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca } });
    cls('tunnel agents').sent++;
    let allEchoed = true;
    try {
      for (let k = 0; k < 3; k++) {
        const body = randomBytes(1 + Math.floor(Math.random() * 16_384));
        cls('tunnel (tunnel.test)').sent++;
        const res = await request(`https://${TUNNEL_HOST}/echo`, { dispatcher: agent, method: 'POST', body, headersTimeout: 15_000, bodyTimeout: 15_000 });
        const back = Buffer.from(await res.body.arrayBuffer());
        if (res.statusCode !== 200 || !back.equals(body)) {
          allEchoed = false;
          unexpected('tunnel (tunnel.test)', `status ${res.statusCode}, ${back.length} of ${body.length} bytes echoed`);
        } else cls('tunnel (tunnel.test)').ok++;
      }
      if (allEchoed) cls('tunnel agents').ok++;
    } finally {
      await agent.close();
    }
  });
  void port;
}

/** CONNECT through scopegate, then TLS inside with the guarded name (the websocket's transport). */
function connectTunnel(proxyPort, ca) {
  return new Promise((resolve, reject) => {
    const s = netConnect(proxyPort, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('CONNECT timed out'));
    }, 10_000);
    let buf = '';
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('data', function onData(c) {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      clearTimeout(timer);
      if (!/^HTTP\/1\.1 200/.test(buf)) {
        s.destroy();
        reject(new Error(`CONNECT refused: ${buf.split('\r\n')[0]}`));
        return;
      }
      const t = tlsConnect({ socket: s, servername: GUARDED, ca, ALPNProtocols: ['http/1.1'] });
      t.once('secureConnect', () => resolve(t));
      t.once('error', reject);
    });
    s.write(`CONNECT ${GUARDED}:443 HTTP/1.1\r\nHost: ${GUARDED}:443\r\n\r\n`);
  });
}

/** Sent per websocket message class, to compare with the log's per-operation counts. */
const wsSent = new Map();
const wsSend = (key) => wsSent.set(key, (wsSent.get(key) ?? 0) + 1);

async function websocketSession(proxyPort, ca, n) {
  const t = await connectTunnel(proxyPort, ca);
  const ws = new WebSocket(`wss://${GUARDED}/graphql/v2`, 'graphql-transport-ws', { createConnection: () => t, headers: AUTH });
  const inbox = [];
  let wake = null;
  ws.on('message', (d) => {
    inbox.push(JSON.parse(d.toString()));
    wake?.();
  });
  const closed = new Promise((r) => ws.once('close', (c) => r(c)));
  ws.on('error', () => {});
  const next = async (ms = 10_000) => {
    const until = Date.now() + ms;
    while (inbox.length === 0 && Date.now() < until) await new Promise((r) => { wake = r; setTimeout(r, 100); });
    const m = inbox.shift();
    if (!m) throw new Error('no websocket message in time');
    return m;
  };
  /** Messages for one subscription id until complete or error. */
  const until = async (id) => {
    const got = [];
    for (;;) {
      const m = await next();
      if (m.id !== id && m.type !== 'ping') continue;
      got.push(m);
      if (m.type === 'complete' || m.type === 'error') return got;
    }
  };
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    if (ws.protocol !== 'graphql-transport-ws') throw new Error(`subprotocol ${ws.protocol}`);
    ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    const ack = await next();
    if (ack.type !== 'connection_ack') throw new Error(`expected connection_ack, got ${JSON.stringify(ack)}`);

    cls('ws read').sent++;
    wsSend('me:allow');
    ws.send(JSON.stringify({ id: `r${n}`, type: 'subscribe', payload: { query: 'query { me { id } }' } }));
    const read = await until(`r${n}`);
    if (read[0]?.type === 'next' && read.at(-1)?.type === 'complete') cls('ws read').ok++;
    else unexpected('ws read', JSON.stringify(read).slice(0, 200));

    cls('ws upsert (staging)').sent++;
    wsSend('variableUpsert:allow');
    const input = { projectId: POCKETOS.projectId, environmentId: STAGING, serviceId: POCKETOS.svc.api, name: `SOAK_WS_${n % 4}`, value: String(n), skipDeploys: true };
    ws.send(JSON.stringify({ id: `u${n}`, type: 'subscribe', payload: { query: 'mutation($input: VariableUpsertInput!) { variableUpsert(input: $input) }', variables: { input } } }));
    const up = await until(`u${n}`);
    if (up[0]?.type === 'next' && up[0]?.payload?.data?.variableUpsert === true) cls('ws upsert (staging)').ok++;
    else unexpected('ws upsert (staging)', JSON.stringify(up).slice(0, 200));

    cls('ws volumeDelete shared').sent++;
    wsSend('volumeDelete:deny');
    ws.send(JSON.stringify({ id: `d${n}`, type: 'subscribe', payload: { query: `mutation { volumeDelete(volumeId: "${SHARED_VOLUME}") }` } }));
    const del = await until(`d${n}`);
    if (del[0]?.type === 'error' && del[0]?.payload?.[0]?.extensions?.code === 'SCOPEGATE_DENIED') cls('ws volumeDelete shared').ok++;
    else unexpected('ws volumeDelete shared', JSON.stringify(del).slice(0, 200));
  } finally {
    ws.close(1000, 'done');
    await Promise.race([closed, sleep(3000)]);
    ws.terminate();
    t.destroy();
  }
}

async function websocketsClient(proxyPort, ca) {
  await paced('ws session', 2000, async (i) => {
    cls('ws session').sent++;
    await websocketSession(proxyPort, ca, i);
    cls('ws session').ok++;
  });
}

function gitHead() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '(unknown commit)';
  }
}

// ------------------------------------------------------------------ main

let failed = false;
const checks = [];
const check = (ok, what) => {
  checks.push({ ok, what });
  if (!ok) failed = true;
};
const samples = [];
let summary = '';

try {
  const pki = makePki([GUARDED, TUNNEL_HOST]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  echo = await startEcho(pki);
  const echoPort = echo.address().port;
  const caDir = join(work, 'ca');
  const dataDir = join(work, 'data');
  scopegate = spawn(process.execPath, [
    ...binNodeFlags(), join(ROOT, 'dist', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-dir', caDir, '--data-dir', dataDir,
    '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--route', `${TUNNEL_HOST}=127.0.0.1:${echoPort}`, '--hold-timeout', '0',
  ], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCOPEGATE_RAILWAY_RESOLVER_TOKEN: '', ...(process.env.SOAK_SCOPEGATE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SOAK_SCOPEGATE_NODE_OPTIONS } : {}) } });
  let stderr = '';
  scopegate.stderr.on('data', (c) => { stderr = (stderr + c).slice(-4000); });
  let pending = '';
  let listening = null;
  const listeningSeen = new Promise((resolve, reject) => {
    scopegate.once('exit', (c) => reject(new Error(`scopegate exited with ${c} before listening: ${stderr}`)));
    scopegate.stdout.on('data', (c) => {
      pending += c;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!listening) {
          try {
            const l = JSON.parse(line);
            if (l.msg === 'listening') {
              listening = l;
              resolve(l);
            }
          } catch {
            /* not JSON */
          }
        }
        onLogLine(line);
      }
    });
  });
  const l = await Promise.race([listeningSeen, sleep(20_000).then(() => { throw new Error('scopegate did not say "listening" in 20 s'); })]);
  const proxyPort = Number(/:(\d+)$/.exec(l.listen)[1]);
  const adminPort = Number(/:(\d+)$/.exec(l.admin)[1]);
  const proxyUrl = `http://127.0.0.1:${proxyPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const sgCa = readFileSync(join(caDir, 'ca.pem'), 'utf8');
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const ca = [sgCa, pki.caPem];
  log(`scopegate pid ${scopegate.pid} on ${l.listen} (admin ${l.admin}); fake Railway :${fake.port}; echo ${TUNNEL_HOST} → :${echoPort}; ${SECONDS} s of load at rate ×${RATE}`);

  const fresh = procSample(scopegate.pid);
  // warm-up: one of each class (lazy opens: SQLite WAL, leaf certificates, the upstream pool), then idle
  {
    const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca } });
    await post(agent, { query: 'query { me { id } }' });
    await post(agent, { query: `mutation { volumeDelete(volumeId: "${SHARED_VOLUME}") }` });
    const h = await post(agent, { query: `mutation { volumeDelete(volumeId: "${SCRATCH_VOLUME}") }` });
    const hid = h.json?.errors?.[0]?.extensions?.holdId;
    if (hid) await admin(adminUrl, token, 'POST', `/api/holds/${hid}/deny`, { reason: 'warm-up' });
    await agent.close();
    const ta = new ProxyAgent({ uri: proxyUrl, requestTls: { ca } });
    await (await request(`https://${TUNNEL_HOST}/echo`, { dispatcher: ta, method: 'POST', body: 'x' })).body.text();
    await ta.close();
    await websocketSession(proxyPort, ca, -1).catch((e) => log(`warm-up websocket: ${e.message}`));
    for (const c of classes.values()) Object.assign(c, { sent: 0, ok: 0, unexpected: 0, pendingIds: [], samples: [] });
    wsSent.clear();
  }
  await sleep(COOLDOWN_MS);
  const logAtStart = { ws: new Map(logStats.wsByKey), errorDecisions: logStats.errorDecisions, errorLevel: logStats.errorLevel };
  const idle = procSample(scopegate.pid);
  log(`idle: fresh ${fresh.fds} fds / ${fresh.rssMiB} MiB; after warm-up and ${COOLDOWN_MS / 1000} s idle ${idle.fds} fds / ${idle.rssMiB} MiB`);

  // the load
  const loadStart = Date.now();
  const sampler = setInterval(async () => {
    const s = { t: Math.round((Date.now() - loadStart) / 1000), ...procSample(scopegate.pid), requests: logStats.requestLines, ws: logStats.wsLines, tunnels: logStats.tunnelLines, errors: logStats.errorDecisions };
    samples.push(s);
    Object.assign(s, await heapSample(adminUrl, token));
    const unexpectedSoFar = [...classes.entries()].filter(([, c]) => c.unexpected).map(([n, c]) => `${n}=${c.unexpected}`).join(' ') || 'none';
    log(`t=${s.t}s rss ${s.rssMiB} MiB (heap ${s.heapUsedMiB}/${s.heapTotalMiB} MiB), fds ${s.fds}, log: ${s.requests} requests, ${s.ws} ws messages, ${s.tunnels} tunnels, ${s.errors} decision errors; unexpected: ${unexpectedSoFar}`);
  }, SAMPLE_MS);
  const guarded = new ProxyAgent({ uri: proxyUrl, requestTls: { ca }, connections: 4 });
  const guarded2 = new ProxyAgent({ uri: proxyUrl, requestTls: { ca }, connections: 2 });
  const stopTimer = setTimeout(() => { stopping = true; }, SECONDS * 1000);
  await Promise.all([
    readsClient(guarded),
    upsertsClient(guarded),
    deniedClient(guarded2),
    holdsClient(guarded2, adminUrl, token),
    tunnelsClient(proxyUrl, ca, echoPort),
    websocketsClient(proxyPort, ca),
  ]);
  clearTimeout(stopTimer);
  const loadEnd = Date.now();
  clearInterval(sampler);
  const endOfLoad = procSample(scopegate.pid);
  samples.push({ t: Math.round((loadEnd - loadStart) / 1000), ...endOfLoad, ...(await heapSample(adminUrl, token)), requests: logStats.requestLines, ws: logStats.wsLines, tunnels: logStats.tunnelLines, errors: logStats.errorDecisions, note: 'end of load' });
  await guarded.close();
  await guarded2.close();
  log(`load stopped after ${((loadEnd - loadStart) / 1000).toFixed(0)} s: rss ${endOfLoad.rssMiB} MiB, fds ${endOfLoad.fds}; waiting ${COOLDOWN_MS / 1000} s for keep-alives to close`);
  await sleep(COOLDOWN_MS);
  const after = procSample(scopegate.pid);
  samples.push({ t: Math.round((Date.now() - loadStart) / 1000), ...after, ...(await heapSample(adminUrl, token)), requests: logStats.requestLines, ws: logStats.wsLines, tunnels: logStats.tunnelLines, errors: logStats.errorDecisions, note: 'after cooldown' });
  await sleep(500); // the last log lines

  // decisions, matched by id
  for (const [name, c] of classes) {
    for (const { id, expected } of c.pendingIds) {
      const line = byDecisionId.get(id);
      if (!line) unexpected(name, `decision ${id}: no log line`);
      else if (line.decision !== expected) unexpected(name, `decision ${id}: ${line.decision} (${line.rule}), expected ${expected}`);
      else c.ok++;
    }
    c.pendingIds = [];
  }
  // websocket messages: the log's counts per operation:decision against what was sent
  const wsLogged = new Map();
  for (const [k, v] of logStats.wsByKey) wsLogged.set(k, v - (logAtStart.ws.get(k) ?? 0));
  for (const [k, sent] of wsSent) if ((wsLogged.get(k) ?? 0) !== sent) unexpected(`ws log ${k}`, `${sent} sent, ${wsLogged.get(k) ?? 0} logged`);
  for (const [k, n] of wsLogged) if (n && !wsSent.has(k)) unexpected(`ws log ${k}`, `${n} logged, none of that kind sent`);
  // tunnels: every CONNECT to the echo host is a plain tunnel, closed without error
  for (const [k, n] of logStats.tunnelsByDecision) if (k !== `${TUNNEL_HOST}:tunnel`) unexpected('tunnel log lines', `${k} ×${n}`);
  if ((logStats.tunnelsByDecision.get(`${TUNNEL_HOST}:tunnel`) ?? 0) < cls('tunnel agents').sent) unexpected('tunnel log lines', `fewer tunnel lines than tunnel agents`);

  // checks
  const firstMinute = samples.find((s) => s.t >= 60) ?? samples[0];
  const atEnd = samples.filter((s) => s.note === 'end of load').at(-1) ?? samples.at(-1);
  const liveGrowth = Math.round((atEnd.liveMiB - firstMinute.liveMiB) * 10) / 10;
  const fullGcsSince = atEnd.majorGcs - firstMinute.majorGcs;
  const rssPeak = Math.max(...samples.map((s) => s.rssMiB));
  const totalSent = [...classes.values()].reduce((n, c) => n + c.sent, 0);
  const totalUnexpected = [...classes.values()].reduce((n, c) => n + c.unexpected, 0);
  check(after.fds <= idle.fds + FD_MARGIN, `descriptors after the load: ${after.fds} (idle ${idle.fds}, margin ${FD_MARGIN}; peak ${Math.max(...samples.map((s) => s.fds))})`);
  check(rssPeak <= RSS_CEILING_MIB, `RSS peak over the run: ${rssPeak} MiB (ceiling ${RSS_CEILING_MIB} MiB)`);
  const liveJudged = SECONDS >= 90 && fullGcsSince > 0;
  check(!liveJudged || liveGrowth < LIVE_BOUND_MIB, `live heap (V8 heap in use after a full GC) from the first minute (${firstMinute.liveMiB} MiB at t=${firstMinute.t}s) to the end of the load (${atEnd.liveMiB} MiB): ${liveGrowth >= 0 ? '+' : ''}${liveGrowth} MiB (bound ${LIVE_BOUND_MIB} MiB; ${fullGcsSince} full GCs in between)${liveJudged ? '' : SECONDS < 90 ? ' — not judged, run shorter than 90 s' : ' — not judged, no full GC in between'}`);
  check(logStats.errorDecisions - logAtStart.errorDecisions === 0, `decision "error" lines: ${logStats.errorDecisions - logAtStart.errorDecisions}`);
  check(logStats.errorLevel - logAtStart.errorLevel === 0, `log lines at level error/fatal: ${logStats.errorLevel - logAtStart.errorLevel}`);
  check(totalUnexpected === 0, `unexpected outcomes: ${totalUnexpected} of ${totalSent} requests/messages`);
  check(scopegate.exitCode === null, 'scopegate still running at the end');
  // not checks, trends: is growth still going on at the end, and is it the JS heap?
  const during = samples.filter((s) => !s.note);
  const half = during.filter((s) => s.t >= (loadEnd - loadStart) / 2000);
  const mean = (xs) => Math.round((xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) * 10) / 10;
  const third = Math.max(1, Math.floor(during.length / 3));
  const trends = [
    `RSS over the second half of the load: ${half[0]?.rssMiB} → ${endOfLoad.rssMiB} MiB (${half.length ? `${endOfLoad.rssMiB - half[0].rssMiB >= 0 ? '+' : ''}${Math.round((endOfLoad.rssMiB - half[0].rssMiB) * 10) / 10}` : '?'} MiB)`,
    `V8 heap used, mean of the middle third of the samples ${mean(during.slice(third, 2 * third).map((s) => s.heapUsedMiB))} MiB, of the last third ${mean(during.slice(2 * third).map((s) => s.heapUsedMiB))} MiB; heap total ${during[0]?.heapTotalMiB} → ${during.at(-1)?.heapTotalMiB} MiB`,
  ];

  const rows = [...classes.entries()].map(([n, c]) => `| ${n} | ${c.sent} | ${c.ok} | ${c.unexpected}${c.samples.length ? ` (${c.samples[0].replace(/\|/g, '\\|')})` : ''} |`);
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  summary = [
    '',
    `### Soak, ${when}`,
    '',
    `\`SOAK_SECONDS=${SECONDS} node bench/soak.mjs\`: ${((loadEnd - loadStart) / 1000).toFixed(0)} s of load, ${totalSent} requests/messages ` +
      `(${(totalSent / ((loadEnd - loadStart) / 1000)).toFixed(1)}/s), node ${process.version}, scopegate from dist/ at ${gitHead()}; ` +
      `log: ${logStats.requestLines} request lines, ${logStats.wsLines} websocket-message lines, ${logStats.tunnelLines} tunnel lines. **${failed ? 'FAILED' : 'all checks held'}.**`,
    '',
    ...checks.map((c) => `- ${c.ok ? 'ok' : '**FAILED**'}: ${c.what}`),
    ...trends.map((t) => `- trend: ${t}`),
    '',
    '| class | sent | expected outcome | unexpected |',
    '|---|---:|---:|---|',
    ...rows,
    '',
    `Tunnel log lines: ${[...logStats.tunnelsByDecision.entries()].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}.`,
    `Websocket message log lines: ${[...wsLogged.entries()].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}.`,
    '',
    `Samples (every ${SAMPLE_MS / 1000} s; fresh start ${fresh.fds} fds / ${fresh.rssMiB} MiB, idle after warm-up ${idle.fds} fds / ${idle.rssMiB} MiB):`,
    '',
    '| t (s) | RSS (MiB) | V8 heap used / total (MiB) | live heap (MiB) | full GCs | external (MiB) | fds | request lines | ws lines | tunnel lines | decision errors |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...samples.map((s) => `| ${s.t}${s.note ? ` (${s.note})` : ''} | ${s.rssMiB} | ${s.heapUsedMiB} / ${s.heapTotalMiB} | ${s.liveMiB} | ${s.majorGcs} | ${s.externalMiB} | ${s.fds} | ${s.requests} | ${s.ws} | ${s.tunnels} | ${s.errors} |`),
    ...(logStats.errorSamples.length ? ['', 'Error lines (first few):', '', ...logStats.errorSamples.map((e) => `    ${e}`)] : []),
    '',
  ].join('\n');
} catch (err) {
  failed = true;
  summary = `\n### Soak, ${new Date().toISOString()}: **aborted**: ${err?.stack ?? err}\n`;
} finally {
  stopping = true;
  await stopAll();
}
process.stdout.write(`${summary}\n`);
if (RECORD) {
  appendFileSync(join(ROOT, 'docs', 'fuzz-and-soak.md'), summary);
  log('appended to docs/fuzz-and-soak.md');
}
process.exit(failed ? 1 : 0);
