import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, startProxy, type StartOptions } from '../helpers/proxy-process.js';

/**
 * Every start-up failure ends the process with its exit status (1 run-time, 2 usage) and a
 * message, instead of leaving it up on its timers and handles. Each case runs the real process
 * and waits for it to exit on its own; the wait is bounded, and a process still up is killed and
 * the test fails.
 */
const work = mkdtempSync(join(tmpdir(), 'sg-startfail-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string; exited: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      resolve({ code: null, stderr, exited: false });
    }, 15_000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, exited: true });
    });
  });
}

const dirs = (name: string): string[] => ['--data-dir', join(work, name, 'data'), '--ca-dir', join(work, name, 'ca')];

describe('start-up failures exit with their status', () => {
  let holder: Server;
  afterAll(() => holder?.close());

  it('a port already taken: exit 1, naming the address and what to do', async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as AddressInfo).port;
    for (const flag of ['--listen', '--admin']) {
      const r = await start([...dirs(`port${flag}`), flag, `127.0.0.1:${port}`]);
      expect(r.exited).toBe(true);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`address 127.0.0.1:${port} is already in use`);
    }
  });

  it('an unreadable CA: exit 1, naming the file', async () => {
    const ca = join(work, 'badca');
    mkdirSync(ca, { recursive: true });
    writeFileSync(join(ca, 'ca.pem'), 'not a certificate\n');
    writeFileSync(join(ca, 'ca-key.pem'), 'not a key\n');
    chmodSync(join(ca, 'ca-key.pem'), 0o600);
    const r = await start(['--data-dir', join(work, 'badca-data'), '--ca-dir', ca]);
    expect(r).toMatchObject({ exited: true, code: 1 });
    expect(r.stderr).toContain(join(ca, 'ca.pem'));
  });

  it('a data dir that cannot be made (a file stands where a folder must): exit 1, naming it', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const r = await start(['--data-dir', join(file, 'data'), '--ca-dir', join(work, 'dd-ca')]);
    expect(r).toMatchObject({ exited: true, code: 1 });
    expect(r.stderr).toContain(join(file, 'data'));
  });

  it('a policy that does not load: exit 2, naming the file', async () => {
    const policy = join(work, 'bad.yaml');
    writeFileSync(policy, 'version: 1\nrules:\n  - name: x\n    match: { class: destructive-irreversable }\n    action: deny\n');
    const r = await start([...dirs('badpolicy'), '--policy', policy]);
    expect(r).toMatchObject({ exited: true, code: 2 });
    expect(r.stderr).toContain('bad.yaml');
    const missing = await start([...dirs('nopolicy'), '--policy', join(work, 'nope.yaml')]);
    expect(missing).toMatchObject({ exited: true, code: 2 });
    expect(missing.stderr).toContain('nope.yaml');
  });
});

describe('the admin token: a guessable one is refused, and the start-up line says where it came from', () => {
  // the placeholders docker/*.env.example ship with, and the like: a user who copied the example
  // and forgot one line must not run an approval page anybody could sign in to
  const PLACEHOLDER = 'replace-with-a-long-random-token';

  it('the example\'s placeholder, in SCOPEGATE_ADMIN_TOKEN or --admin-token: exit 2, naming where, how to make one, never echoing it', async () => {
    for (const [args, env, where] of [
      [[], { SCOPEGATE_ADMIN_TOKEN: PLACEHOLDER }, 'SCOPEGATE_ADMIN_TOKEN'],
      [['--admin-token', 'CHANGEME-0123456789abcdef'], {}, '--admin-token'],
    ] as const) {
      const r = await start([...dirs(`placeholder-${where}`), ...args], env);
      expect(r).toMatchObject({ exited: true, code: 2 });
      expect(r.stderr).toContain(`the admin token in ${where} is still the example's placeholder`);
      expect(r.stderr).toContain('randomBytes(32)');
      expect(r.stderr).not.toContain(PLACEHOLDER);
      expect(r.stderr).not.toContain('0123456789abcdef');
    }
  });

  it('other secrets left as the example\'s placeholder (resolver tokens, the store password): exit 2, naming each, never echoing them', async () => {
    const r = await start(dirs('placeholders'), {
      SCOPEGATE_RAILWAY_RESOLVER_TOKEN: 'replace-with-a-railway-account-token',
      PGPASSWORD: 'replace-with-the-database-password',
      SCOPEGATE_NEON_RESOLVER_TOKEN: 'napi_real_looking_value_0123456789',
    });
    expect(r).toMatchObject({ exited: true, code: 2 });
    expect(r.stderr).toContain("PGPASSWORD, SCOPEGATE_RAILWAY_RESOLVER_TOKEN are still the example's placeholder");
    expect(r.stderr).not.toContain('SCOPEGATE_NEON_RESOLVER_TOKEN');
    expect(r.stderr).not.toContain('railway-account-token');
    expect(r.stderr).not.toContain('database-password');
  });

  it('a token shorter than 16 characters: exit 2, saying how long it is, never echoing it', async () => {
    const r = await start(dirs('short'), { SCOPEGATE_ADMIN_TOKEN: 'short-tok-9' });
    expect(r).toMatchObject({ exited: true, code: 2 });
    expect(r.stderr).toContain('the admin token in SCOPEGATE_ADMIN_TOKEN must be at least 16 characters (it has 11)');
    expect(r.stderr).not.toContain('short-tok-9');
  });

  it('a good token from the environment is used and named as SCOPEGATE_ADMIN_TOKEN; from the flag, as --admin-token', async () => {
    const token = 'k3Jd9-aQ0zLp7Wm2Xv5Rt8Yb';
    const cases: [StartOptions, string][] = [
      [{ env: { SCOPEGATE_ADMIN_TOKEN: token } }, 'SCOPEGATE_ADMIN_TOKEN'],
      [{ args: ['--admin-token', token] }, '--admin-token'],
    ];
    for (const [opts, where] of cases) {
      const p = await startProxy(opts);
      try {
        // the start-up lines follow the 'listening' log line startProxy waits for
        for (let i = 0; i < 50 && !/admin\s+token in/.test(p.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
        const said = p.stdout() + p.stderr();
        expect(said).toMatch(new RegExp(`admin\\s+token in ${where}\\b`));
        expect(said).not.toContain(token);
        const ok = await fetch(`http://127.0.0.1:${p.adminPort}/api/holds`, { headers: { authorization: `Bearer ${token}` } });
        expect(ok.status).toBe(200);
      } finally {
        await p.stop();
      }
    }
  });
});
