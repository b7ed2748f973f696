import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');

export interface LogLine {
  msg: string;
  level: string;
  [k: string]: unknown;
}

export interface ProxyProcess {
  child: ChildProcess;
  pid: number;
  proxyPort: number;
  adminPort: number;
  proxyUrl: string;
  adminUrl: string;
  caDir: string;
  dataDir: string;
  caPem: string;
  adminToken: string;
  stdout: () => string;
  stderr: () => string;
  logs: () => LogLine[];
  /** Resolves with the first log line that satisfies `pred`, waiting at most `ms`. */
  waitForLog: (pred: (l: LogLine) => boolean, ms?: number) => Promise<LogLine>;
  /** SIGTERM, then SIGKILL if it has not exited within `ms`. Resolves with the exit code. */
  stop: (ms?: number) => Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  caDir?: string;
  dataDir?: string;
  /** the scopegate executable to run (default: this checkout's dist/cli.js, run by this node) */
  bin?: string;
}

/** The admin token a started process uses: --admin-token, else SCOPEGATE_ADMIN_TOKEN, else the one start made in the data dir. */
function adminTokenOf(opts: StartOptions, dataDir: string): string {
  const i = opts.args?.indexOf('--admin-token') ?? -1;
  if (i >= 0 && opts.args?.[i + 1]) return opts.args[i + 1]!;
  // replicas share one token, given in the environment
  return opts.env?.['SCOPEGATE_ADMIN_TOKEN'] ?? readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
}

/** Start the real `scopegate start` process on ephemeral loopback ports and wait until it listens. */
export async function startProxy(opts: StartOptions = {}): Promise<ProxyProcess> {
  const work = mkdtempSync(join(tmpdir(), 'sg-proxy-'));
  const caDir = opts.caDir ?? join(work, 'ca');
  const dataDir = opts.dataDir ?? join(work, 'data');
  // a bin is run as a user runs it: executed directly, through its shebang line
  const cmd = opts.bin ?? process.execPath;
  const first: string[] = opts.bin ? [] : [CLI];
  const child = spawn(
    cmd,
    [...first, 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-dir', caDir, '--data-dir', dataDir, ...(opts.args ?? [])],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const parsed: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let pending = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    pending += c.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const l = JSON.parse(line) as LogLine;
        parsed.push(l);
        for (const w of [...waiters]) {
          if (w.pred(l)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
        }
      } catch {
        /* not a log line */
      }
    }
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  const waitForLog = (pred: (l: LogLine) => boolean, ms = 10_000): Promise<LogLine> => {
    const found = parsed.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((res, rej) => {
      const w = { pred, resolve: (l: LogLine) => { clearTimeout(t); res(l); } };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        rej(new Error(`no matching log line within ${ms} ms; stdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-2000)}`));
      }, ms);
      waiters.push(w);
      void exited.then(() => { /* a dead process writes no more lines; the timer reports it */ });
    });
  };

  let listening: LogLine;
  let adminToken: string;
  let caPem: string;
  try {
    listening = await Promise.race([
      waitForLog((l) => l.msg === 'listening', 15_000),
      exited.then((code) => {
        throw new Error(`scopegate exited with ${code} before listening:\n${err}\n${out}`);
      }),
    ]);
    adminToken = adminTokenOf(opts, dataDir);
    caPem = readFileSync(join(caDir, 'ca.pem'), 'utf8');
  } catch (e) {
    // a process the caller never gets a handle on must not outlive the failed start
    child.kill('SIGKILL');
    throw e;
  }
  const [, proxyPort] = /:(\d+)$/.exec(String(listening['listen']))!.map(Number) as [number, number];
  const [, adminPort] = /:(\d+)$/.exec(String(listening['admin']))!.map(Number) as [number, number];
  const stop = async (ms = 10_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  return {
    child,
    pid: child.pid!,
    proxyPort,
    adminPort,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    caDir,
    dataDir,
    caPem,
    adminToken,
    stdout: () => out,
    stderr: () => err,
    logs: () => parsed,
    waitForLog,
    stop,
    exited,
  };
}
