import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/proxy-process.js';

/**
 * Every start-up failure ends the process with its exit status (1 run-time, 2 usage) and a
 * message, instead of leaving it up on its timers and handles. Each case runs the real process
 * and waits for it to exit on its own; the wait is bounded, and a process still up is killed and
 * the test fails.
 */
const work = mkdtempSync(join(tmpdir(), 'sg-startfail-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function start(args: string[]): Promise<{ code: number | null; stderr: string; exited: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
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
