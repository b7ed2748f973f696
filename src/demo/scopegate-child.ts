import { spawn, type ChildProcess } from 'node:child_process';
import { RuntimeError } from '../errors.js';

/** One JSON line of scopegate's log, as the demos read it. */
export interface LogLine {
  msg: string;
  decisionId?: string;
  [k: string]: unknown;
}

/** A `scopegate start` the demos run, its log lines collected as they come. */
export interface ScopegateChild {
  child: ChildProcess;
  lines: LogLine[];
  /** The first line (already seen or still to come) that `pred` accepts; rejects on timeout or exit. */
  waitFor(pred: (l: LogLine) => boolean, ms: number): Promise<LogLine>;
  /** The `listening` line: where the proxy and the admin API are. */
  listening: LogLine;
  /** SIGTERM, then SIGKILL after 3 s: resolves once it has exited. */
  stop(): Promise<void>;
}

/** Start `node cli.js start ARGS…` and wait until it listens (at most 10 s). */
export async function startScopegateChild(cli: string, args: string[], env: NodeJS.ProcessEnv): Promise<ScopegateChild> {
  const child = spawn(process.execPath, [cli, 'start', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  let pending = '';
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const raw = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const l = JSON.parse(raw) as LogLine;
        lines.push(l);
        child.emit('log', l);
      } catch {
        /* not JSON */
      }
    }
  });
  child.stderr!.resume();
  const waitFor = (pred: (l: LogLine) => boolean, ms: number): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const found = lines.find(pred);
      if (found) return resolve(found);
      const done = (): void => {
        clearTimeout(t);
        child.off('log', onLine);
        child.off('exit', onExit);
      };
      const t = setTimeout(() => {
        done();
        reject(new RuntimeError(`scopegate did not log the expected line within ${ms} ms`));
      }, ms);
      const onLine = (l: LogLine): void => {
        if (!pred(l)) return;
        done();
        resolve(l);
      };
      const onExit = (code: number | null): void => {
        done();
        reject(new RuntimeError(`scopegate exited with ${code} during the demo`));
      };
      child.on('log', onLine);
      child.once('exit', onExit);
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  let listening: LogLine;
  try {
    listening = await waitFor((l) => l.msg === 'listening', 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { child, lines, waitFor, listening, stop };
}
