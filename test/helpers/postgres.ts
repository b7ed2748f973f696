import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A real PostgreSQL server for a test run: initdb into a temp dir, `postgres` on a free port on
 * 127.0.0.1 (and a socket in the temp dir), a user with a password (scram), stopped by its pid.
 * Debian's postgresql package puts the binaries in /usr/lib/postgresql/N/bin; PATH is searched
 * first. As root (a CI container), the server runs as the `postgres` user, which initdb demands.
 */

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** The server binaries, or null with why not (tests that need them skip, saying so). */
export function findPostgres(): { bin: PostgresBinaries } | { missing: string } {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    for (const v of readdirSync(debian).sort((a, b) => Number(b) - Number(a))) dirs.push(join(debian, v, 'bin'));
  }
  for (const d of dirs) {
    if (existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres'))) return { bin: { initdb: join(d, 'initdb'), postgres: join(d, 'postgres') } };
  }
  return { missing: 'no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin; install the Debian package postgresql' };
}

export const POSTGRES = findPostgres();
export const SKIP_POSTGRES = 'missing' in POSTGRES ? POSTGRES.missing : false;
if (SKIP_POSTGRES) console.warn(`skipping the PostgreSQL cases: ${SKIP_POSTGRES}`);

export interface PostgresServer {
  port: number;
  user: string;
  password: string;
  /** The server's pid while it runs. */
  pid: () => number | undefined;
  /** A URL for database `db`, with the password in it. */
  url: (db?: string) => string;
  /** CREATE DATABASE with a fresh name; returns its URL. */
  createDatabase: () => Promise<string>;
  /** A statement as the superuser, on database `db`. */
  sql: (text: string, values?: unknown[], db?: string) => Promise<pg.QueryResult>;
  /** Stop the server (fast shutdown, by pid; SIGKILL after 10 s). */
  stop: () => Promise<void>;
  /** Start it again on the same port and data. */
  start: () => Promise<void>;
  /** Stop it and remove its files. */
  destroy: () => Promise<void>;
  /**
   * SIGSTOP the server and every backend it forked (by pid, from /proc): connections stay open
   * and nothing answers, as with a hung or partitioned database. thaw() SIGCONTs the same pids.
   */
  freeze: () => void;
  thaw: () => void;
}

/** The pids whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // the command name is in parentheses and may hold spaces; the fields after it are fixed
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppidField = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppidField === ppid) out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** uid/gid of the `postgres` user (else nobody) when running as root, which initdb refuses; else nothing. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const users = new Map(readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).map((f) => [f[0], { uid: Number(f[2]), gid: Number(f[3]) }] as const));
  const as = users.get('postgres') ?? users.get('nobody');
  if (!as) throw new Error('running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as');
  return as;
}

export async function startPostgres(opts: { fsync?: boolean } = {}): Promise<PostgresServer> {
  if ('missing' in POSTGRES) throw new Error(POSTGRES.missing);
  const { initdb, postgres } = POSTGRES.bin;
  const work = mkdtempSync(join(tmpdir(), 'sg-pg-'));
  const as = runAs();
  if (as) chownSync(work, as.uid, as.gid);
  chmodSync(work, 0o700);
  const data = join(work, 'data');
  const user = 'scopegate';
  // a password with characters a careless redaction would miss
  const password = `pw-${randomBytes(9).toString('base64url')}@x/y`;
  const pwfile = join(work, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (as) chownSync(pwfile, as.uid, as.gid);
  const init = spawnSync(initdb, ['-D', data, '-U', user, '--pwfile', pwfile, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], { ...(as ?? {}), encoding: 'utf8', timeout: 60_000 });
  rmSync(pwfile, { force: true });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const url = (db = 'postgres'): string => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;

  const start = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', work, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', `fsync=${opts.fsync ? 'on' : 'off'}`];
    const c = spawn(postgres, args, { ...(as ?? {}), stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let log = '';
    c.stderr!.on('data', (b: Buffer) => {
      log = (log + b.toString()).slice(-4000);
    });
    exited = new Promise((r) => c.once('exit', () => r()));
    // ready once it accepts a connection (at most 30 s)
    for (let i = 0; i < 300; i++) {
      if (c.exitCode !== null) throw new Error(`postgres exited (${c.exitCode}) at start:\n${log}`);
      const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 1000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`postgres did not accept connections within 30 s:\n${log}`);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    process.kill(c.pid!, 'SIGINT'); // fast shutdown
    const t = setTimeout(() => {
      if (c.exitCode === null) process.kill(c.pid!, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(t);
  };

  const sql = async (text: string, values: unknown[] = [], db = 'postgres'): Promise<pg.QueryResult> => {
    const client = new pg.Client({ connectionString: url(db), connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.query(text, values);
    } finally {
      await client.end();
    }
  };

  let frozen: number[] = [];
  const thaw = (): void => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* already gone */
      }
    }
    frozen = [];
  };

  await start();
  let n = 0;
  return {
    port,
    user,
    password,
    pid: () => child?.pid,
    url,
    createDatabase: async () => {
      const name = `sg_${process.pid}_${Date.now().toString(36)}_${n++}`;
      await sql(`CREATE DATABASE ${name}`);
      return url(name);
    },
    sql,
    stop,
    start,
    destroy: async () => {
      if (frozen.length > 0) thaw();
      await stop();
      rmSync(work, { recursive: true, force: true });
    },
    freeze: () => {
      const main = child?.pid;
      if (!main) throw new Error('postgres is not running');
      frozen = [main, ...childrenOf(main)];
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    },
    thaw,
  };
}
