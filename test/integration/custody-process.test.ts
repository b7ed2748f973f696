import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { expectNowhere } from '../helpers/secrets.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Credential custody with real processes, as an operator runs it: `scopegate token create` and
 * `revoke` against the same data dir as a running `scopegate start` at trace level. A revocation
 * takes effect on the running proxy's next call and survives a restart; neither the real token
 * nor the placeholder is in stdout, stderr or any file, in the clear or base64.
 */
const GUARDED = 'backboard.railway.com';
const REAL = POCKETOS.token.account;
let pki: TestPki;
let fake: FakeRailway;
let work: string;
let policy: string;
const env = { SG_CUSTODY_REAL_TOKEN: REAL };
const outputs: string[] = [];

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  work = mkdtempSync(join(tmpdir(), 'sg-custody-proc-'));
  policy = join(work, 'policy.yaml');
  writeFileSync(policy, custodyPolicyYaml('SG_CUSTODY_REAL_TOKEN'));
});
afterAll(async () => {
  await fake?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const sg = async (args: string[]) => {
  const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeoutMs: 15_000 });
  outputs.push(r.stdout, r.stderr);
  return r;
};
const start = (): Promise<ProxyProcess> =>
  startProxy({ dataDir: join(work, 'data'), caDir: join(work, 'ca'), env, args: ['--policy', policy, '--log-level', 'trace', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--hold-timeout', '0'] });
async function call(p: ProxyProcess, token: string): Promise<string> {
  const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
  try {
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ me { id } }' }) });
    const body = (await res.body.json()) as { errors?: { extensions?: { code?: string; rule?: string } }[] };
    return body.errors?.[0]?.extensions?.rule ?? 'FORWARDED';
  } finally {
    await agent.close();
  }
}

describe('placeholders with real processes', () => {
  it('a revocation takes effect on the running proxy at once and survives a restart; no secret in any output or file', async () => {
    let p = await start();
    try {
      const created = await sg(['token', 'create', '--agent', 'ci-bot', '--credential', 'railway-owner', '--policy', policy, '--data-dir', join(work, 'data')]);
      expect(created.code).toBe(0);
      const token = created.stdout.trim();
      // create shows the token once, on its own stdout; every other output is searched for it below
      outputs.splice(outputs.indexOf(created.stdout), 1);
      expect(token).toMatch(/^[0-9a-f-]{36}$/);
      fake.received.length = 0;
      expect(await call(p, token)).toBe('FORWARDED');
      expect(fake.received.at(-1)).toMatchObject({ executed: true, tokenKind: 'account' });
      const list = JSON.parse((await sg(['token', 'list', '--json', '--data-dir', join(work, 'data')])).stdout) as { id: string; status: string; lastUsedAt: string | null }[];
      expect(list[0]).toMatchObject({ status: 'live', lastUsedAt: expect.any(String) });
      expect((await sg(['token', 'revoke', list[0]!.id, '--data-dir', join(work, 'data')])).code).toBe(0);
      // the running proxy reads the store on every call: revoked now, without a reload
      expect(await call(p, token)).toBe('token-revoked');
      outputs.push(p.stdout(), p.stderr());
      await p.stop();
      p = await start();
      expect(await call(p, token)).toBe('token-revoked');
      expect(await call(p, REAL)).toBe('real-credential');
      outputs.push(p.stdout(), p.stderr());
      expectNowhere(join(work, 'data'), [REAL, token], outputs);
    } finally {
      await p.stop();
    }
  });
});
