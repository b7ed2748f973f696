import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

describe('scopegate demo', () => {
  it('replays the incident with the agent holding a staging placeholder: worthless direct, ceiling then rules deny, staging-only delete held, real token refused and reported, nothing left running', async () => {
    // a private TMPDIR: the demo's work folder (and so its processes' arguments) is known to be this run's
    const tmp = mkdtempSync(join(tmpdir(), 'sg-demo-test-'));
    const r = await run(process.execPath, [CLI, 'demo'], { env: { NO_COLOR: '1', TMPDIR: tmp }, timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the agent holds a placeholder minted by `scopegate token create`, shaped like a Railway token
    expect(r.stdout).toMatch(/person {3}scopegate token create --agent cleanup-bot --credential railway-owner --environments staging\n/);
    const placeholder = /RAILWAY_API_TOKEN=([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}) /.exec(r.stdout)?.[1];
    expect(placeholder).toBeDefined();
    // (a) straight to Railway, the placeholder is worthless
    expect(r.stdout).toMatch(/\(the placeholder, no proxy\)\n {3}Railway {2}Not Authorized/);
    // (b) through scopegate, the ceiling refuses the incident call before any rule, naming production
    expect(r.stdout).toMatch(/decision DENY by rule token-ceiling {2}\(before any rule\)\n {3}agent is told: .*may act only in staging; volumeDelete reaches production\)/);
    expect(r.stdout).toMatch(/lookup {3}volume vol-7f3a9d \(pgdata\) is bound to environments production, staging/);
    expect(r.stdout).toMatch(/decision DENY by rule never-destroy-protected/);
    // the third signal: production's database is busy over TCP (bytes, no requests); the scratch volume is idle
    expect(r.stdout).toMatch(/lookup {3}volume vol-7f3a9d .*traffic active: production served no HTTP requests in the last 15 min but moved [\d.]+ MiB in \/ [\d.]+ MiB out/);
    expect(r.stdout).toMatch(/lookup {3}volume vol-stg-only \(scratch\) .*traffic idle: staging had no traffic in the last 15 min/);
    expect(r.stdout).toMatch(/decision HOLD by rule irreversible-destruction/);
    expect(r.stdout).toMatch(/person {3}scopegate holds approve H-\S+ --confirm scratch --reason .*\(admin API: HTTP 200\)/);
    expect(r.stdout).toMatch(/retries the identical call: Railway answered \(rule approved-hold:H-/);
    expect(r.stdout).toMatch(/vol-stg-only was deleted/);
    // (c) a real token pasted by mistake: refused and audited, by hash only
    expect(r.stdout).toMatch(/\(a real token, not a placeholder\)\n {3}decision DENY by rule real-credential\n/);
    expect(r.stdout).toMatch(/audit {4}real-credential-seen: agent anonymous, token hash [0-9a-f]{16} /);
    expect(r.stdout).not.toContain('tok-account-owner'); // the fake's real account token is never shown
    expect(r.stdout).toMatch(/vol-7f3a9d still exists, with 3 backups; Railway executed 1 volumeDelete call, the approved one/);
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(tmp));
    expect(left).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]); // the work folder is gone too
    rmSync(tmp, { recursive: true, force: true });
  }, 150_000);


  // issue 18, item 7: a playground to try policies, holds and the page by hand
  it('--keep leaves a playground: the printed environment reaches the fake through scopegate, a call waits on a hold a person approves, and Ctrl-C stops it all', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--keep'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      for (let i = 0; i < 600 && !out.includes('playground ready'); i++) await new Promise((r) => setTimeout(r, 200));
      expect(out).toContain('playground ready');
      const envFile = /agent {4}\. (\S+agent\.sh)/.exec(out)![1]!;
      // the replay's answers name the replay's own (stopped) page: read the playground's lines only
      const playground = out.slice(out.indexOf('Playground:'));
      const admin = /approval page http:\/\/(\S+)\//.exec(playground)![1]!;
      const dataDir = /--data-dir (\S+)/.exec(playground)![1]!;
      const work = dirname(envFile);
      // the environment as the file gives it, for curl exactly as printed
      const env: Record<string, string> = { PATH: process.env['PATH'] ?? '' };
      for (const line of readFileSync(envFile, 'utf8').trim().split('\n')) {
        const m = /^export ([A-Z_a-z]+)='(.*)'$/.exec(line)!;
        env[m[1]!] = m[2]!;
      }
      expect(env['RAILWAY_API_TOKEN']).toMatch(/^[0-9a-f-]{36}$/);
      const curl = (query: string) => run('curl', ['-s', 'https://backboard.railway.com/graphql/v2', '-H', `Authorization: Bearer ${env['RAILWAY_API_TOKEN']}`, '-H', 'content-type: application/json', '-d', JSON.stringify({ query })], { env, inheritEnv: false, timeoutMs: 60_000 });
      expect(JSON.parse((await curl('query { project(id: "prj-pocketos") { name } }')).stdout)).toEqual({ data: { project: { name: 'pocketos' } } });
      expect((await curl('mutation { volumeDelete(volumeId: "vol-7f3a9d") }')).stdout).toMatch(/"code":"SCOPEGATE_DENIED".*"rule":"token-ceiling"/);
      // holds wait in the playground: approve while the agent waits, by the printed CLI command
      const waiting = curl('mutation { volumeDelete(volumeId: "vol-stg-only") }');
      const holds = (...args: string[]) => run(process.execPath, [CLI, 'holds', ...args, '--admin', admin, '--data-dir', dataDir]);
      let id: string | undefined;
      let listed = '';
      for (let i = 0; i < 100 && !id; i++) {
        const l = await holds('list', '--status', 'pending');
        listed = l.stdout + l.stderr;
        id = /^(H-\S+) {2}pending {3}waiting \d+ s/m.exec(listed)?.[1];
        if (!id) await new Promise((r) => setTimeout(r, 200));
      }
      expect(id, listed).toBeDefined();
      expect((await holds('approve', id!, '--confirm', 'scratch')).code).toBe(0);
      expect((await waiting).stdout).toBe('{"data":{"volumeDelete":true}}');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('stopping the playground');
      expect(existsSync(work)).toBe(false);
      const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(work));
      expect(left).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);

  it('Ctrl-C in the middle of the replay stops scopegate and removes the work folder', async () => {
    const child = spawn(process.execPath, [CLI, 'demo'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      for (let i = 0; i < 600 && !out.includes('The agent gets a placeholder'); i++) await new Promise((r) => setTimeout(r, 200));
      // the demo's own scopegate, found by its parent: its --ca-dir names the work folder
      const kids = execFileSync('ps', ['-o', 'args=', '--ppid', String(child.pid)], { encoding: 'utf8' });
      const work = /--ca-dir (\S+)\/ca /.exec(kids)?.[1];
      expect(work).toMatch(/scopegate-demo-/);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(existsSync(work!)).toBe(false);
      for (let i = 0; i < 50 && execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes(work!); i++) await new Promise((r) => setTimeout(r, 100));
      expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(work!);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
