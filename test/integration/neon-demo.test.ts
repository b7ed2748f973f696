import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { ACME } from '../fixtures/fake-neon/index.js';

describe('scopegate demo --provider neon', () => {
  it('an agent cleaning up preview branches: restoring and deleting main denied with the live scope, an idle preview branch held, main untouched', async () => {
    const r = await run(process.execPath, [CLI, 'demo', '--provider', 'neon'], { env: { NO_COLOR: '1' }, timeoutMs: 85_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/placeholder shaped like one \(napi_[a-z0-9]{7}…\)/);
    expect(r.stdout).toMatch(/1\. The agent looks at the branches[^\n]*\n[^\n]*\n {3}decision ALLOW by rule reads/);
    expect(r.stdout).toMatch(/2\. It decides main is "dirty"[\s\S]*?overwrites main with its own history[\s\S]*?decision DENY by rule never-destroy-protected {2}\(HTTP 403\)/);
    expect(r.stdout).toMatch(/3\. It deletes the branch main's compute serves[\s\S]*?compute ep-main-rw-11aa22 on main is active[\s\S]*?decision DENY by rule never-destroy-protected {2}\(HTTP 403\)/);
    expect(r.stdout).toMatch(/4\. It deletes an idle preview branch[\s\S]*?is idle, last active 9 days ago[\s\S]*?decision HOLD by rule irreversible-destruction {2}\(HTTP 409\)/);
    expect(r.stdout).toMatch(/main is untouched; preview\/pr-41 waits for a person; Neon executed 0 changes/);
    expect(r.stdout).not.toContain(ACME.key);
  }, 90_000);
  it('refuses a provider it has no scenario for', async () => {
    const r = await run(process.execPath, [CLI, 'demo', '--provider', 'heroku'], { timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--provider heroku/);
  });
});
