import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { CLI } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

describe('scopegate demo', () => {
  it('replays the incident with the agent holding a staging placeholder: worthless direct, ceiling then rules deny, staging-only delete held, real token refused and reported, nothing left running', async () => {
    const r = await run(process.execPath, [CLI, 'demo'], { env: { NO_COLOR: '1' }, timeoutMs: 30_000 });
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
    expect(r.stdout).toMatch(/person {3}scopegate holds approve H-\S+ --reason/);
    expect(r.stdout).toMatch(/retries the identical call: Railway answered \(rule approved-hold:H-/);
    expect(r.stdout).toMatch(/vol-stg-only was deleted/);
    // (c) a real token pasted by mistake: refused and audited, by hash only
    expect(r.stdout).toMatch(/\(a real token, not a placeholder\)\n {3}decision DENY by rule real-credential\n/);
    expect(r.stdout).toMatch(/audit {4}real-credential-seen: agent anonymous, token hash [0-9a-f]{16} /);
    expect(r.stdout).not.toContain('tok-account-owner'); // the fake's real account token is never shown
    expect(r.stdout).toMatch(/vol-7f3a9d still exists, with 3 backups; Railway executed 1 volumeDelete call, the approved one/);
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('scopegate-demo-'));
    expect(left).toEqual([]);
  });
});
