import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, ProxyAgent, request } from 'undici';
import type { Scopegate } from '../../src/app.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { railway } from '../../src/providers/railway/index.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { tunnel } from '../helpers/raw-client.js';
import { expectNowhere } from '../helpers/secrets.js';
import WebSocket from 'ws';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Credential custody at the gate (issue 17, phase 2): the agent holds a placeholder, scopegate
 * swaps in the real token; a placeholder's environment ceiling holds before any rule; a real token
 * in an agent's hands is refused and reported; revoked and expired placeholders stop at once. The
 * real app in process, a real TLS client through it, and the fake Railway checking the tokens.
 */
const GUARDED = 'backboard.railway.com';
const REAL = POCKETOS.token.account;
let pki: TestPki;
let fake: FakeRailway;
let app: Scopegate;
let agent: ProxyAgent;
let proxyPort: number;
let work: string;
let lines: string[] = [];
let running: InProcess;
/** A webhook receiver on loopback: what scopegate tells people. */
let receiver: Server;
const received: string[] = [];

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  const policy = parsePolicy(
    custodyPolicyYaml('SG_TEST_RAILWAY_TOKEN'),
    'custody.yaml',
    PROVIDERS,
    { SG_TEST_RAILWAY_TOKEN: REAL },
  );
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(body);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  running = await startInProcess({
    policy,
    providers: PROVIDERS,
    routes: new Map([[GUARDED, { address: '127.0.0.1', port: fake.port }]]),
    upstreamCa: pki.caPem,
    webhooks: [{ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, format: 'json' }],
  });
  ({ app, agent, lines, work } = running);
  proxyPort = running.at.proxy.port;
});

afterAll(async () => {
  await running?.stop();
  await fake?.stop();
  await new Promise((r) => receiver?.close(r));
});

async function call(token: string, query: string, header = 'authorization'): Promise<{ code: string; rule?: string; body: Record<string, unknown> }> {
  const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', [header]: header === 'authorization' ? `Bearer ${token}` : token }, body: JSON.stringify({ query }) });
  const body = (await res.body.json()) as Record<string, unknown>;
  const err = (body['errors'] as { extensions?: Record<string, unknown> }[] | undefined)?.[0];
  return { code: String(err?.extensions?.['code'] ?? (err ? 'PROVIDER_ERROR' : 'FORWARDED')), rule: err?.extensions?.['rule'] as string | undefined, body };
}
const minted = (environments: string[] = [], ttlMs?: number) => app.placeholders.mint({ agent: 'ci-bot', credential: 'railway-owner', adapter: railway, environments, ...(ttlMs ? { ttlMs } : {}) });
const mint = async (environments: string[] = [], ttlMs?: number): Promise<string> => (await minted(environments, ttlMs)).token;

describe('the agent holds a placeholder; scopegate holds the token', () => {
  it('a read with the placeholder reaches Railway with the real token; the placeholder alone, sent straight to Railway, is refused there', async () => {
    const token = await mint();
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    fake.received.length = 0;
    const r = await call(token, '{ me { id } }');
    expect(r.code).toBe('FORWARDED');
    expect(fake.received.at(-1)).toMatchObject({ executed: true, tokenKind: 'account' });
    // the same placeholder, going around scopegate, carries no power
    const direct = await request(`${fake.url}/graphql/v2`, { dispatcher: new Agent({ connect: { ca: pki.caPem, servername: GUARDED } }), method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ me { id } }' }) });
    const answer = (await direct.body.json()) as { errors?: unknown[] };
    expect(answer.errors?.length ?? 0).toBeGreaterThan(0);
    expect(fake.received.at(-1)).toMatchObject({ executed: false });
  });

  it('the placeholder works in Project-Access-Token too, and is swapped there as well', async () => {
    const token = await mint();
    fake.received.length = 0;
    expect((await call(token, '{ me { id } }', 'project-access-token')).code).toBe('FORWARDED');
    expect(fake.received.at(-1)).toMatchObject({ executed: true, tokenKind: 'account' });
  });

  it('a ceiling holds before any rule: a staging-bound placeholder cannot touch the shared volume, whatever it is called', async () => {
    const token = await mint(['staging', 'pr-*']);
    fake.received.length = 0;
    const r = await call(token, `mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(r).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'token-ceiling' });
    expect(JSON.stringify(r.body)).toContain('production');
    // the staging-only volume is inside the ceiling: the rules decide it (irreversible: held)
    expect((await call(token, `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`)).code).toBe('SCOPEGATE_HOLD_PENDING');
    expect(fake.received.some((x) => x.rootFields.includes('volumeDelete'))).toBe(false);
  });

  it('a real token in an agent\'s hands is refused and reported: audited as real-credential-seen with a keyed hash, never the token', async () => {
    fake.received.length = 0;
    const r = await call(REAL, '{ me { id } }');
    expect(r).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'real-credential' });
    expect(fake.received.length).toBe(0);
    const seen = (await app.holds.store.queryAudit({ limit: 50 })).filter((e) => e.event === 'real-credential-seen');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]!.detail).toMatchObject({ tokenHash: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(JSON.stringify(seen)).not.toContain(REAL);
    // and the webhooks are told, without the token
    for (let i = 0; i < 50 && !received.some((b) => b.includes('real-credential-seen')); i++) await new Promise((r) => setTimeout(r, 100));
    const alert = received.find((b) => b.includes('real-credential-seen'));
    expect(JSON.parse(alert!)).toMatchObject({ event: 'real-credential-seen', alert: { agent: 'anonymous', host: GUARDED, detail: { tokenHash: seen[0]!.detail!['tokenHash'] } } });
    expect(alert).not.toContain(REAL);
  });

  it('revoked and expired placeholders stop at once', async () => {
    const { token, placeholder } = await minted();
    expect((await call(token, '{ me { id } }')).code).toBe('FORWARDED');
    expect((await app.placeholders.list()).find((p) => p.id === placeholder.id)).toMatchObject({ status: 'live', lastUsedAt: expect.any(String) });
    await app.placeholders.revoke(placeholder.id);
    expect(await call(token, '{ me { id } }')).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'token-revoked' });
    const short = await mint([], 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(await call(short, '{ me { id } }')).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'token-expired' });
  });

  it('over WebSocket too: the handshake\'s placeholder is swapped, the ceiling holds per message, a real token is refused at the handshake', async () => {
    const open = async (token: string): Promise<{ ws: WebSocket; next: () => Promise<Record<string, unknown>> }> => {
      const t = await tunnel(proxyPort, `${GUARDED}:443`, GUARDED, readFileSync(app.ca.certPath, 'utf8'));
      const ws = new WebSocket(`wss://${GUARDED}/graphql/v2`, 'graphql-transport-ws', { createConnection: (() => t) as never, headers: { authorization: `Bearer ${token}` } });
      const inbox: Record<string, unknown>[] = [];
      ws.on('message', (d) => inbox.push(JSON.parse(d.toString()) as Record<string, unknown>));
      const next = async (): Promise<Record<string, unknown>> => {
        for (let i = 0; i < 50 && inbox.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
        const m = inbox.shift();
        if (!m) throw new Error('no message');
        return m;
      };
      return { ws, next };
    };
    const { ws, next } = await open(await mint(['staging']));
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    fake.received.length = 0;
    ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    expect(await next()).toEqual({ type: 'connection_ack' });
    ws.send(JSON.stringify({ id: 'read', type: 'subscribe', payload: { query: 'subscription($id: String!) { deployment(id: $id) { id status } }', variables: { id: POCKETOS.deployment.apiStg } } }));
    expect(await next()).toMatchObject({ id: 'read', type: 'next' });
    expect(fake.received.find((x) => x.transport === 'ws')).toMatchObject({ tokenKind: 'account' });
    ws.send(JSON.stringify({ id: 'evil', type: 'subscribe', payload: { query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }` } }));
    const refused = await next();
    expect((refused['payload'] as { extensions: Record<string, unknown> }[])[0]!.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'token-ceiling' });
    ws.close();
    const real = await open(REAL);
    const failed = await new Promise<string>((resolve) => {
      real.ws.once('unexpected-response', (_q, res) => resolve(String(res.statusCode)));
      real.ws.once('open', () => resolve('open'));
      real.ws.once('error', (e) => resolve(e.message));
    });
    expect(failed).toBe('403');
    expect(fake.received.some((x) => x.rootFields.includes('volumeDelete'))).toBe(false);
    // the real token inside a message (connection_init carries tokens for some clients): the socket is closed, nothing forwarded
    const carrier = await open(await mint());
    await new Promise<void>((resolve, reject) => { carrier.ws.once('open', () => resolve()); carrier.ws.once('error', reject); });
    const closed = new Promise<number>((r) => carrier.ws.once('close', (code) => r(code)));
    carrier.ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${Buffer.from(REAL).toString('base64')}` } }));
    expect(await closed).toBe(4400);
    expect((await app.holds.store.queryAudit({ limit: 100 })).some((e) => e.event === 'secret-egress' && e.detail?.['where'] === 'websocket message')).toBe(true);
  });

  it('neither the real token nor a placeholder is in any log line or any file under the data dir', async () => {
    const token = await mint();
    await call(token, '{ me { id } }');
    const log = lines.join('');
    expect(log).not.toContain(REAL);
    expect(log).not.toContain(token);
    expectNowhere(join(work, 'data'), [REAL, token]);
  });
});
