import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

/** `scopegate env` as a shell runs it: added to what the user has, and honest about a missing CA (issue 18, item 6). */
describe('scopegate env in a real shell', () => {
  it('adds the preload to an existing NODE_OPTIONS instead of replacing it, and sets it alone when there is none', async () => {
    const script = (pre: string): string => `${pre} eval "$("${process.execPath}" "${CLI}" env 2>/dev/null)"; printf '%s' "$NODE_OPTIONS"`;
    const kept = await run('sh', ['-c', script('export NODE_OPTIONS="--max-old-space-size=200 --trace-warnings";')], { timeoutMs: 15_000 });
    expect(kept.stdout).toMatch(/^--max-old-space-size=200 --trace-warnings --import \/.*\/dist\/preload\.js$/);
    const fresh = await run('sh', ['-c', script('unset NODE_OPTIONS;')], { timeoutMs: 15_000 });
    expect(fresh.stdout).toMatch(/^--import \/.*\/dist\/preload\.js$/);
  });

  it('says on stderr when the CA files it points at do not exist yet, and still prints the variables', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-env-')), 'no-ca-here');
    const r = await run(process.execPath, [CLI, 'env', '--ca-dir', dir], { timeoutMs: 15_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${join(dir, 'ca.pem')} and ${join(dir, 'bundle.pem')} do not exist yet`);
    expect(r.stderr).toContain('scopegate ca init');
    expect(r.stdout).toContain(`export NODE_EXTRA_CA_CERTS='${join(dir, 'ca.pem')}'`);
  });

  it('fish, PowerShell and dotenv add to NODE_OPTIONS in their own syntax', async () => {
    const fish = await run(process.execPath, [CLI, 'env', '--shell', 'fish'], { timeoutMs: 15_000 });
    expect(fish.stdout).toMatch(/^set -gx NODE_OPTIONS \(string trim -- "\$NODE_OPTIONS --import \/.*preload\.js"\)$/m);
    const ps = await run(process.execPath, [CLI, 'env', '--shell', 'powershell'], { timeoutMs: 15_000 });
    expect(ps.stdout).toMatch(/^\$env:NODE_OPTIONS = \("\$env:NODE_OPTIONS " \+ '--import \/.*preload\.js'\)\.Trim\(\)$/m);
    const dotenv = await run(process.execPath, [CLI, 'env', '--shell', 'dotenv'], { timeoutMs: 15_000 });
    expect(dotenv.stdout).toMatch(/^NODE_OPTIONS=--import \/.*preload\.js$/m);
    expect(dotenv.stdout).toMatch(/^# NODE_OPTIONS: if your environment already sets it/m);
  });
});
