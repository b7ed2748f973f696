import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { connect } from 'node:net';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { ACME, acmeWorld, startFakeNeon, type FakeNeon } from '../fixtures/fake-neon/index.js';

/**
 * Neon through the real proxy process: live scope from the (fake) Neon API, the shipped default
 * policy, and answers in Neon's error shape (403 denied, 409 pending, 422 unjudgeable).
 */
const HOST = 'console.neon.tech';
const P = `/api/v2/projects/${ACME.project}`;
let pki: TestPki;
let fake: FakeNeon;
let proxy: ProxyProcess;

beforeAll(async () => {
  pki = makeTestPki('neon', [HOST]);
  fake = await startFakeNeon({ cert: pki.cert, key: pki.key });
  proxy = await startProxy({ args: ['--upstream-ca', pki.caPath, '--route', `${HOST}=127.0.0.1:${fake.port}`, '--lookup-timeout', '3', '--hold-timeout', '0'] });
});
afterAll(async () => {
  await proxy?.stop();
  await fake?.stop();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  decision: string | undefined;
}

async function neonCall(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
  try {
    const res = await request(`https://${HOST}${path}`, { dispatcher: agent, method: method as 'GET', headers: { authorization: `Bearer ${ACME.key}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { body } : {}) });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, decision: res.headers['x-scopegate-decision'] as string | undefined };
  } finally {
    await agent.close();
  }
}

describe('Neon through scopegate (live scope, default policy)', () => {
  it('a read goes through and gets Neon\'s own answer', async () => {
    const a = await neonCall('GET', `${P}/branches`);
    expect(a.status).toBe(200);
    expect((a.body['branches'] as unknown[]).length).toBe(5);
  });
  it("deleting the branch main's compute serves is denied with the live scope, in Neon's error shape; Neon never sees it", async () => {
    fake.world = acmeWorld();
    const a = await neonCall('DELETE', `${P}/branches/${ACME.branch.main}`);
    expect(a.status).toBe(403);
    expect(a.body).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected', decisionId: a.decision, operation: 'deleteProjectBranch', class: 'destructive-irreversible' });
    expect(String(a.body['message'])).toMatch(/branch br-main-91a2b3 \(main\) is bound to environment main; live deployments in main/);
    expect(String(a.body['message'])).toMatch(/compute ep-main-rw-11aa22 on main is active/);
    expect(a.body['scope']).toMatchObject({ status: 'resolved', project: 'acme-shop', environments: ['main'] });
    expect(fake.executed('deleteProjectBranch')).toBe(0);
  });
  it('restoring main to yesterday without keeping its state is denied', async () => {
    const a = await neonCall('POST', `${P}/branches/${ACME.branch.main}/restore`, JSON.stringify({ source_branch_id: ACME.branch.main, source_timestamp: new Date(Date.now() - 86_400_000).toISOString() }));
    expect(a.status).toBe(403);
    expect(String(a.body['message'])).toMatch(/overwrites main with its own history/);
    expect(fake.executed('restoreProjectBranch')).toBe(0);
  });
  it('deleting an idle preview branch is held (409) with a hold id', async () => {
    const a = await neonCall('DELETE', `${P}/branches/${ACME.branch.pr41}?hard_delete=true`);
    expect(a.status).toBe(409);
    expect(a.body).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'irreversible-destruction' });
    expect(a.body['holdId']).toMatch(/\S/);
    expect(String(a.body['message'])).toMatch(/is idle, last active 9 days ago/);
    expect(fake.executed('deleteProjectBranch')).toBe(0);
  });
  it('suspending a preview compute (recoverable, unprotected) goes through and is executed', async () => {
    const before = fake.executed('suspendProjectEndpoint');
    const a = await neonCall('POST', `${P}/endpoints/${ACME.endpoint.pr57}/suspend`);
    expect(a.status).toBe(200);
    expect(fake.executed('suspendProjectEndpoint')).toBe(before + 1);
  });
  it('what cannot be judged is refused with 422, never forwarded', async () => {
    const before = fake.received.length;
    const a = await neonCall('POST', `${P}/branches/${ACME.branch.pr41}/restore`, '{"source_branch_id":"br-main-91a2b3","preserve_under_name":"x","Preserve_Under_Name":""}');
    expect(a.status).toBe(422);
    expect(a.body).toMatchObject({ code: 'SCOPEGATE_UNJUDGEABLE', decisionId: a.decision });
    const b = await neonCall('POST', `${P}/branches/${ACME.branch.pr41}`, '', { 'x-http-method-override': 'DELETE' });
    expect(b.status).toBe(422);
    expect(fake.received.length).toBe(before);
  });
  it('an operation that is not in the catalogue is held', async () => {
    const a = await neonCall('POST', `${P}/branches/${ACME.branch.pr41}/self_destruct`, '{}');
    expect(a.status).toBe(409);
    expect(a.body).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', class: 'unknown', rule: 'unknown-operations' });
  });
  it('branches on later pages count: with pages of 2, deleting main is still denied by its default mark', async () => {
    fake.world = acmeWorld();
    fake.world.branchPageCap = 2;
    // main first in the list would be on page 1 either way: put it last
    fake.world.branches.push(fake.world.branches.shift()!);
    const a = await neonCall('DELETE', `${P}/branches/${ACME.branch.main}`);
    expect(a.status).toBe(403);
    expect(a.body).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected' });
    expect(fake.received.filter((r) => r.operation === 'listProjectBranches').length).toBeGreaterThanOrEqual(3);
    fake.world = acmeWorld();
  });
  it('a lookup failure leaves the scope unresolved: held, not guessed', async () => {
    fake.setMode('fail');
    try {
      // a destructive call always asks live (a start could be judged on a lookup cached a moment ago)
      const a = await neonCall('POST', `${P}/endpoints/${ACME.endpoint.pr57}/suspend`);
      expect(a.status).toBe(409);
      expect(a.body['scope']).toMatchObject({ status: 'unresolved' });
    } finally {
      fake.setMode('normal');
    }
  });
});

/** A request in absolute form (`GET https://console.neon.tech/…` to the proxy, no CONNECT), as older axios sends it. */
function absoluteForm(method: string, url: string, headers: Record<string, string>, body = ''): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(proxy.proxyPort, '127.0.0.1');
    let data = '';
    s.setTimeout(10_000, () => {
      s.destroy();
      reject(new Error(`no answer: ${data}`));
    });
    s.on('data', (c) => (data += c.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1] ?? 0), headers: head ?? '', body: rest.join('\r\n\r\n') });
    });
    const lines = [`${method} ${url} HTTP/1.1`, `Host: ${HOST}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${Buffer.byteLength(body)}`];
    s.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  });
}

describe('absolute-form https:// to a guarded host (no CONNECT)', () => {
  it('is judged exactly like an intercepted request: a read is forwarded over verified TLS', async () => {
    const reads = (): number => fake.received.filter((r) => r.operation === 'listProjectEndpoints' && r.auth === 'bearer:1').length;
    const before = reads();
    const a = await absoluteForm('GET', `https://${HOST}${P}/endpoints`, { authorization: `Bearer ${ACME.key}`, accept: 'application/json' });
    expect(a.status).toBe(200);
    expect(a.body).toMatch(/"endpoints"/);
    // lookups ask for the same list; the agent's own read is one more
    expect(reads()).toBeGreaterThan(before);
  });
  it('a destructive call is denied the same way', async () => {
    const a = await absoluteForm('DELETE', `https://${HOST}${P}/branches/${ACME.branch.main}`, { authorization: `Bearer ${ACME.key}` });
    expect(a.status).toBe(403);
    expect(JSON.parse(a.body)).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected' });
  });
});

describe('absolute-form https:// is forwarded over verified TLS only', () => {
  it('an upstream whose certificate scopegate does not trust gets nothing: 502, and the fake sees no request', async () => {
    const untrusting = await startProxy({ args: ['--route', `${HOST}=127.0.0.1:${fake.port}`, '--lookup-timeout', '2', '--hold-timeout', '0'] });
    try {
      const before = fake.received.length;
      const a = await new Promise<{ status: number }>((resolve, reject) => {
        const s = connect(untrusting.proxyPort, '127.0.0.1');
        let data = '';
        s.setTimeout(10_000, () => {
          s.destroy();
          reject(new Error('no answer'));
        });
        s.on('data', (c) => (data += c.toString('latin1')));
        s.on('error', reject);
        s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0) }));
        s.write(`GET https://${HOST}${P}/branches HTTP/1.1\r\nHost: ${HOST}\r\nAuthorization: Bearer ${ACME.key}\r\nConnection: close\r\n\r\n`);
      });
      expect(a.status).toBe(502);
      expect(fake.received.length).toBe(before);
    } finally {
      await untrusting.stop();
    }
  });
});

describe('pre-flight (/v1/check) for a Neon call', () => {
  it('says what the call would touch and what would happen, without executing it', async () => {
    fake.world = acmeWorld();
    const res = await request(`${proxy.proxyUrl}/v1/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: HOST, path: `${P}/branches/${ACME.branch.main}`, method: 'DELETE', headers: { authorization: `Bearer ${ACME.key}` } }),
    });
    const body = (await res.body.json()) as { operations?: { operation: string; class: string; decision: string; rule: string }[] };
    expect(res.statusCode, JSON.stringify(body)).toBe(200);
    expect(body.operations?.[0]).toMatchObject({ operation: 'deleteProjectBranch', class: 'destructive-irreversible', decision: 'deny', rule: 'never-destroy-protected' });
    expect(fake.executed('deleteProjectBranch')).toBe(0);
  });
});
