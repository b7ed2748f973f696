import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { Scopegate } from '../../src/app.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { neon, mintNeonKey } from '../../src/providers/neon/index.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { withShippedRules } from '../helpers/policies.js';
import { expectNowhere } from '../helpers/secrets.js';
import { ACME, acmeWorld, startFakeNeon, type FakeNeon } from '../fixtures/fake-neon/index.js';

/**
 * Credential custody for Neon: the agent holds a placeholder shaped like a Neon API key; scopegate
 * swaps in the real key; the real key in an agent's hands is refused; a ceiling of branches holds.
 */
const HOST = 'console.neon.tech';
const P = `/api/v2/projects/${ACME.project}`;
let pki: TestPki;
let fake: FakeNeon;
let running: InProcess;
let app: Scopegate;

beforeAll(async () => {
  pki = makeTestPki('neon-custody', [HOST]);
  fake = await startFakeNeon({ cert: pki.cert, key: pki.key });
  const policy = parsePolicy(
    withShippedRules(['version: 1', 'providers:', '  neon: {}', 'credentials:', '  neon-owner:', '    provider: neon', '    secret_env: SG_TEST_NEON_KEY']),
    'neon-custody.yaml',
    PROVIDERS,
    { SG_TEST_NEON_KEY: ACME.key },
  );
  running = await startInProcess({ policy, providers: PROVIDERS, routes: new Map([[HOST, { address: '127.0.0.1', port: fake.port }]]), upstreamCa: pki.caPem });
  app = running.app;
});
afterAll(async () => {
  await running?.stop();
  await fake?.stop();
});

async function call(token: string, method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`https://${HOST}${path}`, { dispatcher: running.agent, method: method as 'GET', headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}
const mint = async (environments: string[] = []): Promise<string> => (await app.placeholders.mint({ agent: 'cleanup-bot', credential: 'neon-owner', adapter: neon, environments })).token;

describe('Neon keys in custody', () => {
  it('placeholders are shaped like Neon API keys, and unlike each other', async () => {
    const a = mintNeonKey();
    expect(a).toMatch(/^napi_[a-z0-9]{60}$/);
    expect(new Set(Array.from({ length: 50 }, mintNeonKey)).size).toBe(50);
    expect(await mint()).toMatch(/^napi_[a-z0-9]{60}$/);
  });
  it('a read with the placeholder reaches Neon with the real key; the placeholder sent straight to Neon is refused there', async () => {
    const token = await mint();
    const r = await call(token, 'GET', `${P}/branches`);
    expect(r.status).toBe(200);
    expect(fake.received.at(-1)).toMatchObject({ operation: 'listProjectBranches', executed: true, auth: 'bearer:1' });
    const direct = await request(`${fake.url}${P}/branches`, { dispatcher: new Agent({ connect: { ca: pki.caPem, servername: HOST } }), headers: { authorization: `Bearer ${token}` } });
    expect(direct.statusCode).toBe(401);
    await direct.body.dump();
  });
  it("the real key in an agent's hands is refused (rule real-credential), never forwarded", async () => {
    const before = fake.received.length;
    const r = await call(ACME.key, 'GET', `${P}/branches`);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'real-credential' });
    expect(fake.received.length).toBe(before);
  });
  it("a console session cookie (Neon's CookieAuth) is a real credential too: refused, never forwarded", async () => {
    const before = fake.received.length;
    const res = await request(`https://${HOST}${P}/branches`, { dispatcher: running.agent, headers: { cookie: 'theme=dark; Zenith=eyJsession.cookie.value' } });
    expect(res.statusCode).toBe(403);
    expect(await res.body.json()).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'real-credential' });
    expect(fake.received.length).toBe(before);
  });
  it('a ceiling of preview branches holds before any rule', async () => {
    fake.world = acmeWorld();
    const token = await mint(['preview/*']);
    const main = await call(token, 'POST', `${P}/endpoints/${ACME.endpoint.main}/suspend`);
    expect(main.status).toBe(403);
    expect(main.body).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'token-ceiling' });
    const preview = await call(token, 'POST', `${P}/endpoints/${ACME.endpoint.pr41}/suspend`);
    expect(preview.status).toBe(200);
    expect(fake.executed('suspendProjectEndpoint')).toBe(1);
  });
  it('a ceiling may name @protected', async () => {
    const token = await mint(['@protected']);
    expect((await call(token, 'POST', `${P}/endpoints/${ACME.endpoint.pr41}/suspend`)).body).toMatchObject({ rule: 'token-ceiling' });
  });
  it('the real key is written nowhere (files, log lines)', () => {
    expectNowhere(running.work, [ACME.key], running.lines);
  });
});
