// Shared helpers for the benchmark processes: test PKI from the openssl CLI, statistics, /proc
// readings, small IPC plumbing. Loopback only.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The node flags of dist/cli.js's bin line (`#!/usr/bin/env -S node <flags>`): `npx scopegate`
 * and the container image run scopegate with them, so the bench and the soak do too (with this
 * process's node rather than PATH's).
 */
export function binNodeFlags() {
  const first = readFileSync(join(ROOT, 'dist', 'cli.js'), 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env (?:-S )?node((?: --\S+)*)$/.exec(first);
  if (!m) throw new Error(`dist/cli.js's bin line is "${first}", not "#!/usr/bin/env [-S] node [--flags]": update bench/lib.mjs`);
  return m[1].split(' ').filter(Boolean);
}
export const BENCH = fileURLToPath(new URL('.', import.meta.url));

/** Names every intercepting proxy guards; the upstream's certificate covers all of them. */
export const GUARDED_SUFFIX = 'bench.test';
export const API_HOST = `api.${GUARDED_SUFFIX}`; // small GraphQL answers
export const BIG_HOST = `big.${GUARDED_SUFFIX}`; // 256 KiB answers
export const RAILWAY_HOST = 'backboard.railway.com'; // the fake Railway (scenario e)
export const TUNNEL_SNI = 'bulk.tunnel.test'; // not guarded: tunnelled (scenario f)
export const BIG_BYTES = 256 * 1024;

export const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
export const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(v.length * p))];
};
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowEpochMs = () => performance.timeOrigin + performance.now();

/**
 * A test CA and two leaves from it: the upstream's (every bench name + 127.0.0.1) and the floor
 * forwarder's (the guarded names). RSA 2048, like scopegate's and mitmproxy's leaves.
 */
/**
 * A test CA in `dir` made with the openssl CLI (not scopegate's certificate code), and a way to
 * sign server leaves with it: leaf(fileStem, commonName, "DNS:a,DNS:b,IP:…").
 */
export function makeTestCa(dir, subject) {
  const run = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${subject}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash');
  const leaf = (name, cn, san) => {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    return { certPath: join(dir, `${name}.pem`), keyPath: join(dir, `${name}.key`) };
  };
  return { caPath: join(dir, 'ca.pem'), caKeyPath: join(dir, 'ca.key'), leaf };
}

/** The bench's PKI: the upstream's leaf for every bench name, and the floor's one wildcard leaf. */
export function makePki(dir) {
  const ca = makeTestCa(dir, 'scopegate bench CA');
  const upstream = ca.leaf('upstream', API_HOST, `DNS:*.${GUARDED_SUFFIX},DNS:${RAILWAY_HOST},DNS:${TUNNEL_SNI},IP:127.0.0.1`);
  const floor = ca.leaf('floor', `*.${GUARDED_SUFFIX}`, `DNS:*.${GUARDED_SUFFIX},DNS:${RAILWAY_HOST}`);
  return { caPath: ca.caPath, caKeyPath: ca.caKeyPath, upstream, floor };
}

const CLK_TCK = 100; // Linux USER_HZ

/** utime + stime of a process, in seconds; NaN once it is gone. */
export function cpuSeconds(pid, tid) {
  try {
    const stat = readFileSync(tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
  } catch {
    return NaN;
  }
}

/** { rss, hwm } in MiB from /proc/PID/status. */
export function memory(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** Request/answer over a forked child's IPC channel, with a deadline. */
export function ipcClient(child, name) {
  let next = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    const w = m && waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    clearTimeout(w.timer);
    if (m.error) w.reject(new Error(`${name}: ${m.error}`));
    else w.resolve(m.result);
  });
  child.once('exit', (code, signal) => {
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`${name} exited (${code ?? signal})`));
    }
    waiting.clear();
  });
  return (msg, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${name}: ${msg.op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, { resolve, reject, timer });
      child.send({ ...msg, id });
    });
}

/** The child's side: answer each { id, op, ... } with handlers[op]. */
export function ipcServe(handlers) {
  process.on('message', async (m) => {
    try {
      const h = handlers[m.op];
      if (!h) throw new Error(`unknown op ${m.op}`);
      const result = await h(m);
      process.send({ id: m.id, result });
    } catch (err) {
      process.send({ id: m.id, error: (err && err.stack) || String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
