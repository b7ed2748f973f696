// The load generator: its own process (forked by run.mjs), so it never shares an event loop with
// a proxy or the upstream. Each IPC command runs one bounded measurement against one target:
//   target = { kind: 'direct', upstreamPort, bulkPort, caPaths }   straight to the upstream
//          | { kind: 'proxy', proxyPort, bulkPort, caPaths }        through a CONNECT proxy
// Every loop stops at a request count or a time cap, whichever comes first.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Agent, ProxyAgent, buildConnector, request } from 'undici';
import { ipcServe, nowEpochMs, pct, sleep, TUNNEL_SNI } from './lib.mjs';

const caOf = (t) => t.caPaths.map((p) => readFileSync(p, 'utf8'));

function dispatcherFor(t, connections) {
  const ca = caOf(t);
  if (t.kind === 'direct') {
    const base = buildConnector({ ca });
    return new Agent({
      connect: (o, cb) => base({ ...o, hostname: '127.0.0.1', port: String(t.upstreamPort), servername: o.hostname }, cb),
      connections,
      keepAliveTimeout: 30_000,
    });
  }
  return new ProxyAgent({ uri: `http://127.0.0.1:${t.proxyPort}`, requestTls: { ca }, connections, keepAliveTimeout: 30_000 });
}

/**
 * `conc` workers calling `one()` until `n` calls have started or `capMs` has passed (more than 50
 * errors also stop them). `one` resolves with a number that is summed (bytes, say).
 */
async function pool({ conc, n, capMs }, one) {
  const lat = [];
  let started = 0;
  let done = 0;
  let errors = 0;
  let total = 0;
  let firstError = null;
  const t0 = performance.now();
  const deadline = t0 + capMs;
  const worker = async () => {
    while (started < n && performance.now() < deadline) {
      started++;
      const t = performance.now();
      try {
        total += await one();
        lat.push(performance.now() - t);
        done++;
      } catch (err) {
        errors++;
        firstError ??= String(err?.code ?? err?.message ?? err);
        if (errors > 50) break;
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  return { lat, done, errors, total, firstError, capped: started < n, secs: (performance.now() - t0) / 1000 };
}

const summary = (lat, done, errors, secs, extra = {}) => ({
  n: done,
  errors,
  secs,
  rps: done / secs,
  p50: pct(lat, 0.5),
  p99: pct(lat, 0.99),
  ...extra,
});

/**
 * Keep-alive POSTs: `conc` workers on one pooled dispatcher, `n` requests or `capMs`, after
 * `warm` unmeasured ones. With `holdMs`, the connections stay open that long after the last answer.
 */
async function keepAlive({ target, host, path, body, conc, n, capMs, warm = 0, holdMs = 0, headers = {} }) {
  const d = dispatcherFor(target, conc);
  const one = async () => {
    const res = await request(`https://${host}${path}`, { dispatcher: d, method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    let bytes = 0;
    for await (const c of res.body) bytes += c.length;
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    return bytes;
  };
  try {
    const warmEnd = performance.now() + Math.min(capMs, 3000);
    for (let i = 0; i < warm && performance.now() < warmEnd; i += conc) await Promise.all(Array.from({ length: conc }, () => one().catch(() => 0)));
    const r = await pool({ conc, n, capMs }, one);
    if (holdMs > 0) await sleep(holdMs);
    return summary(r.lat, r.done, r.errors, r.secs, { mbps: r.total / 2 ** 20 / r.secs, firstError: r.firstError, capped: r.capped });
  } finally {
    await d.destroy().catch(() => {});
  }
}

/** A raw connection to `host:port`: TCP to the upstream (direct), or CONNECT through the proxy. */
function rawConnect(target, connectHost, connectPort, directPort) {
  return new Promise((resolve, reject) => {
    if (target.kind === 'direct') {
      const s = netConnect({ host: '127.0.0.1', port: directPort });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
      return;
    }
    const s = netConnect({ host: '127.0.0.1', port: target.proxyPort });
    s.once('error', reject);
    s.once('connect', () => s.write(`CONNECT ${connectHost}:${connectPort} HTTP/1.1\r\nHost: ${connectHost}:${connectPort}\r\n\r\n`));
    let buf = Buffer.alloc(0);
    const onData = (c) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      s.pause();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1'))?.[1]);
      if (status !== 200) {
        s.destroy();
        return reject(new Error(`CONNECT answered ${status}`));
      }
      if (buf.length > end + 4) s.unshift(buf.subarray(end + 4));
      resolve(s);
    };
    s.on('data', onData);
  });
}

/** Read one HTTP/1.1 answer (content-length or chunked) from a TLS socket; resolves { status, bytes }. */
function readAnswer(sock) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let headEnd = -1;
    let status = 0;
    let length = -1;
    let chunked = false;
    let bodyBytes = 0;
    let decisionId = null;
    const finish = () => {
      sock.off('data', onData);
      resolve({ status, bytes: bodyBytes, decisionId, body: buf.subarray(headEnd + 4) });
    };
    const onData = (c) => {
      if (headEnd < 0) {
        buf = Buffer.concat([buf, c]);
        headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buf.subarray(0, headEnd).toString('latin1');
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        length = cl ? Number(cl[1]) : -1;
        chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
        decisionId = /\r\nx-scopegate-decision:\s*(\S+)/i.exec(head)?.[1] ?? null;
        bodyBytes = buf.length - headEnd - 4;
      } else {
        bodyBytes += c.length;
        if (chunked || bodyBytes < 64 * 1024) buf = Buffer.concat([buf, c]);
      }
      if (length >= 0 && bodyBytes >= length) finish();
      else if (chunked && buf.subarray(-5).toString('latin1') === '0\r\n\r\n') finish();
    };
    sock.on('data', onData);
    sock.once('end', () => (length < 0 && !chunked ? finish() : reject(new Error('connection closed mid-answer'))));
    sock.once('error', reject);
  });
}

/** One request on a brand-new connection: CONNECT (or TCP) + TLS handshake + POST + answer. */
async function oneShot(target, host, path, body, ca, extraHeaders = '') {
  const t0 = performance.now();
  const raw = await rawConnect(target, host, 443, target.upstreamPort);
  const sock = await new Promise((resolve, reject) => {
    const s = tlsConnect({ socket: raw, servername: host, ca, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  try {
    sock.write(`POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}Connection: close\r\n\r\n${body}`);
    const a = await readAnswer(sock);
    if (a.status !== 200) throw new Error(`HTTP ${a.status}`);
    return { ms: performance.now() - t0, ...a };
  } finally {
    sock.destroy();
    raw.destroy();
  }
}

/** Scenario b: a new CONNECT + TLS handshake for every request. */
async function newConnection({ target, host, path, body, conc, n, capMs, warm = 0 }) {
  const ca = caOf(target);
  for (let i = 0; i < warm; i++) await oneShot(target, host, path, body, ca).catch(() => {});
  // pool() times each call: connect to last byte
  const r = await pool({ conc, n, capMs }, async () => {
    await oneShot(target, host, path, body, ca);
    return 0;
  });
  return summary(r.lat, r.done, r.errors, r.secs, { firstError: r.firstError, capped: r.capped });
}

/** Scenario d: for each new hostname, a first request (the proxy mints its leaf) then a later one, each on a new connection. */
async function manyHosts({ target, hosts, path, body, conc, capMs }) {
  const ca = caOf(target);
  const first = [];
  const later = [];
  let next = 0;
  let errors = 0;
  let firstError = null;
  const t0 = performance.now();
  const deadline = t0 + capMs;
  const worker = async () => {
    while (next < hosts.length && performance.now() < deadline) {
      const host = hosts[next++];
      try {
        const a = await oneShot(target, host, path, body, ca);
        const b = await oneShot(target, host, path, body, ca);
        first.push(a.ms);
        later.push(b.ms);
      } catch (err) {
        errors++;
        firstError ??= String(err?.code ?? err?.message ?? err);
        if (errors > 20) break;
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  const secs = (performance.now() - t0) / 1000;
  const all = [...first, ...later];
  return {
    n: all.length, hostsDone: first.length, errors, firstError, secs, rps: all.length / secs,
    p50: pct(all, 0.5), p99: pct(all, 0.99),
    firstP50: pct(first, 0.5), firstP99: pct(first, 0.99), laterP50: pct(later, 0.5), laterP99: pct(later, 0.99),
    deltas: first.map((f, i) => f - later[i]),
  };
}

/** Scenario e: sequential guarded mutations, each on a kept-alive connection; client-side times and decision ids. */
async function mutations({ target, host, path, body, headers, n, capMs, gapMs = 15 }) {
  const d = dispatcherFor(target, 1);
  const out = [];
  const deadline = performance.now() + capMs;
  try {
    for (let i = 0; i < n && performance.now() < deadline; i++) {
      const start = nowEpochMs();
      const t = performance.now();
      const res = await request(`https://${host}${path}`, { dispatcher: d, method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      const text = await res.body.text();
      const ms = performance.now() - t;
      let code = null;
      try {
        code = JSON.parse(text)?.errors?.[0]?.extensions?.code ?? null;
      } catch {
        /* not JSON */
      }
      out.push({ start, end: nowEpochMs(), ms, status: res.statusCode, code, decisionId: res.headers['x-scopegate-decision'] ?? null });
      await sleep(gapMs);
    }
  } finally {
    await d.destroy().catch(() => {});
  }
  return out;
}

/** Scenario f: `streams` parallel downloads of `bytes` each, TLS end to end, through a tunnel (or direct). */
async function tunnel({ target, streams, bytes, capMs, caPaths }) {
  // the far end's own certificate: a tunnel is never intercepted
  const ca = caPaths.map((p) => readFileSync(p, 'utf8'));
  const one = async () => {
    const t0 = performance.now();
    const raw = await rawConnect(target, '127.0.0.1', target.bulkPort, target.bulkPort);
    const sock = await new Promise((resolve, reject) => {
      const s = tlsConnect({ socket: raw, servername: TUNNEL_SNI, ca });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
    const ttfb = performance.now() - t0;
    const timer = setTimeout(() => sock.destroy(new Error('capped')), capMs);
    try {
      sock.write(`GET /bulk?bytes=${bytes} HTTP/1.1\r\nHost: ${TUNNEL_SNI}\r\nConnection: close\r\n\r\n`);
      const a = await readAnswer(sock);
      if (a.status !== 200 || a.bytes < bytes) throw new Error(`short answer ${a.status} ${a.bytes}`);
      return { ms: performance.now() - t0, ttfb, bytes: a.bytes };
    } finally {
      clearTimeout(timer);
      sock.destroy();
      raw.destroy();
    }
  };
  const t0 = performance.now();
  const rs = await Promise.allSettled(Array.from({ length: streams }, one));
  const secs = (performance.now() - t0) / 1000;
  const ok = rs.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const total = ok.reduce((s, r) => s + r.bytes, 0);
  const bad = rs.find((r) => r.status === 'rejected');
  return {
    n: ok.length, errors: rs.length - ok.length, firstError: bad ? String(bad.reason?.message ?? bad.reason) : null, secs,
    mbps: total / 2 ** 20 / secs, rps: ok.length / secs,
    p50: pct(ok.map((r) => r.ttfb), 0.5), p99: pct(ok.map((r) => r.ttfb), 0.99), streamP50: pct(ok.map((r) => r.ms), 0.5),
  };
}

ipcServe({ keepAlive, newConnection, manyHosts, mutations, tunnel, ping: () => 'pong' });
