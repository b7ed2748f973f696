import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { ACME, acmeWorld, startFakeNeon, type FakeNeon } from '../fixtures/fake-neon/index.js';
import { neonCatalogue } from '../../src/providers/neon/catalogue.js';

/** The fake Neon is a faithful subset of the OpenAPI document, and executes what it records. */
let pki: TestPki;
let fake: FakeNeon;
let agent: Agent;

beforeAll(async () => {
  pki = makeTestPki('fake-neon', ['console.neon.tech', '127.0.0.1']);
  fake = await startFakeNeon({ cert: pki.cert, key: pki.key });
  agent = new Agent({ connect: { ca: pki.caPem, servername: 'console.neon.tech' } });
});
afterAll(async () => {
  await agent?.close();
  await fake?.stop();
});

async function call(method: string, path: string, body?: unknown, key: string = ACME.key): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`${fake.url}/api/v2${path}`, { dispatcher: agent, method: method as 'GET', headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}
const P = `/projects/${ACME.project}`;

describe('the fake Neon', () => {
  it('serves only operations of the OpenAPI document, at their method and path', async () => {
    fake.world = acmeWorld();
    const before = fake.received.length;
    await call('GET', P);
    await call('GET', `${P}/branches`);
    await call('GET', `${P}/endpoints`);
    await call('GET', `${P}/snapshots`);
    for (const r of fake.received.slice(before)) {
      const e = neonCatalogue.operations[r.operation!];
      expect(e, r.operation!).toBeDefined();
      expect(r.method).toBe(e!.method);
    }
  });
  it('answers 401 in Neon\'s error shape without a known key', async () => {
    const r = await call('GET', P, undefined, 'napi_nope');
    expect(r.status).toBe(401);
    expect(r.body).toHaveProperty('message');
    expect(r.body).toHaveProperty('code');
  });
  it('refuses to delete the default branch or a branch with children, as Neon does', async () => {
    fake.world = acmeWorld();
    expect((await call('DELETE', `${P}/branches/${ACME.branch.main}`)).status).toBe(422);
    expect((await call('DELETE', `${P}/branches/${ACME.branch.pr57}`)).status).toBe(422);
    expect(fake.world.branches.some((b) => b.id === ACME.branch.pr57)).toBe(true);
    const ok = await call('DELETE', `${P}/branches/${ACME.branch.pr41}`);
    expect(ok.status).toBe(200);
    expect(fake.world.branches.some((b) => b.id === ACME.branch.pr41)).toBe(false);
    expect(fake.executed('deleteProjectBranch')).toBe(1);
  });
  it('a restore overwrites the branch, keeping the old state only under preserve_under_name', async () => {
    fake.world = acmeWorld();
    const url = `${P}/branches/${ACME.branch.main}/restore`;
    expect((await call('POST', url, { source_branch_id: ACME.branch.main, source_timestamp: '2026-12-02T12:00:00Z' })).status).toBe(400);
    const r = await call('POST', url, { source_branch_id: ACME.branch.main, source_timestamp: '2026-12-02T12:00:00Z', Preserve_Under_Name: 'main-before' });
    expect(r.status).toBe(200);
    const kept = fake.world.branches.find((b) => b.name === 'main-before')!;
    expect(kept).toBeDefined();
    // the children moved to the preserved branch
    expect(fake.world.branches.find((b) => b.id === ACME.branch.staging)!.parent_id).toBe(kept.id);
  });
});
