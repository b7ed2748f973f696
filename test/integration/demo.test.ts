import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { CLI } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

describe('scopegate demo', () => {
  it('replays the incident through HTTPS_PROXY: denied, volume intact, staging-only delete held, nothing left running', async () => {
    const r = await run(process.execPath, [CLI, 'demo'], { env: { NO_COLOR: '1' }, timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Railway Not Authorized/);
    expect(r.stdout).toMatch(/lookup {3}volume vol-7f3a9d \(pgdata\) is bound to environments production, staging/);
    expect(r.stdout).toMatch(/decision DENY by rule never-destroy-protected/);
    expect(r.stdout).toMatch(/decision HOLD by rule irreversible-destruction/);
    expect(r.stdout).toMatch(/person {3}scopegate holds approve H-\S+ --reason/);
    expect(r.stdout).toMatch(/retries the identical call: Railway answered \(rule approved-hold:H-/);
    expect(r.stdout).toMatch(/vol-stg-only was deleted/);
    expect(r.stdout).toMatch(/vol-7f3a9d still exists, with 3 backups; Railway executed 1 volumeDelete call, the approved one/);
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('scopegate-demo-'));
    expect(left).toEqual([]);
  });
});
