import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { ProxyAgent, request } from 'undici';
import type { Scopegate } from '../../src/app.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { railway } from '../../src/providers/railway/index.js';
import { identityFromEnv, PreflightClient } from '../../src/mcp/client.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { withShippedRules } from '../helpers/policies.js';
import { run } from '../helpers/run.js';
import { POCKETOS, pocketOsWorld, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Pre-flight over HTTP (issue 20): POST /v1/check, POST /v1/scope and GET /v1/holds/ID on the
 * proxy listener, path-form and through the proxy to scopegate.internal (absolute-form and
 * CONNECT + TLS from the local CA), with curl and undici. The real app in process, the fake
 * Railway recording what it executed: a check executes nothing, holds nothing, uses no approval.
 */
const GUARDED = 'backboard.railway.com';
const REAL = POCKETOS.token.account;
const CLEANER_SECRET = 'cleaner-secret-for-preflight-tests';
const INCIDENT = { query: 'mutation($id: String!) { volumeDelete(volumeId: $id) }', variables: { id: POCKETOS.volume.pgdata } };
const SCRATCH = { query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }` };

let pki: TestPki;
let fake: FakeRailway;
let running: InProcess;
let app: Scopegate;
let base: string;
let proxyUrl: string;

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  const yaml = withShippedRules(['version: 1', 'providers:', '  railway: {}', 'credentials:', '  railway-owner:', '    provider: railway', '    secret_env: SG_PF_REAL', 'agents:', '  cleaner: { secret_env: SG_PF_CLEANER }']);
  const policy = parsePolicy(yaml, 'preflight.yaml', PROVIDERS, { SG_PF_REAL: REAL, SG_PF_CLEANER: CLEANER_SECRET });
  running = await startInProcess({ policy, providers: PROVIDERS, routes: new Map([[GUARDED, { address: '127.0.0.1', port: fake.port }]]), upstreamCa: pki.caPem, logLevel: 'info', config: { preflightConcurrency: 2 } });
  app = running.app;
  base = `http://127.0.0.1:${running.at.proxy.port}`;
  proxyUrl = running.at.proxyUrl;
});
afterAll(async () => {
  await running?.stop();
  await fake?.stop();
});
afterEach(() => {
  fake.world = pocketOsWorld();
  fake.setMode('normal');
  fake.received.length = 0;
});

const mint = async (environments: string[] = []): Promise<string> => (await app.placeholders.mint({ agent: 'ci-bot', credential: 'railway-owner', adapter: railway, environments })).token;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const volumeDeletes = (): number => fake.received.filter((r) => r.executed && r.rootFields.includes('volumeDelete')).length;
const allHolds = () => app.holds.store.listHolds(undefined, 1000);

interface Answer {
  status: number;
  json: Record<string, unknown>;
  headers: Record<string, unknown>;
}

/** POST through undici, path-form (no dispatcher) or through the proxy (an http:// or https:// scopegate.internal URL). */
async function post(url: string, body: unknown, headers: Record<string, string> = {}, dispatcher?: ProxyAgent): Promise<Answer> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body), ...(dispatcher ? { dispatcher } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown>, headers: res.headers };
}
const check = (body: unknown, headers: Record<string, string> = {}): Promise<Answer> => post(`${base}/v1/check`, body, headers);
const checkOf = (payload: unknown, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) => check({ host: GUARDED, path: '/graphql/v2', method: 'POST', headers, body: payload, ...extra });

/** A real call through the proxy, as an agent makes it. */
async function realCall(payload: unknown, headers: Record<string, string>): Promise<{ code: string; message: string; holdId?: string }> {
  const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: running.agent, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) });
  const body = (await res.body.json()) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };
  const err = body.errors?.[0];
  return { code: String(err?.extensions?.['code'] ?? (err ? 'PROVIDER_ERROR' : 'FORWARDED')), message: err?.message ?? '', ...(err?.extensions?.['holdId'] ? { holdId: String(err.extensions['holdId']) } : {}) };
}

type Op = { operation: string; decision: string; rule: string; scope: { status: string; environments: string[]; shared: boolean; summary: string; backups?: { count: number; onTarget: boolean } } };

describe('POST /v1/check, path-form', () => {
  it('the incident call: deny with the live scope (production and staging share the volume, backups on it); nothing executes, no hold is made, nothing is audited, one log line', async () => {
    const token = await mint();
    const holdsBefore = (await allHolds()).length;
    const r = await checkOf(INCIDENT, bearer(token));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ decision: 'deny', rule: 'never-destroy-protected', agent: 'ci-bot' });
    const op = (r.json['operations'] as Op[])[0]!;
    expect(op).toMatchObject({ operation: 'volumeDelete', decision: 'deny', rule: 'never-destroy-protected' });
    expect(op.scope.status).toBe('resolved');
    expect([...op.scope.environments].sort()).toEqual(['production', 'staging']);
    expect(op.scope.shared).toBe(true);
    expect(op.scope.backups).toMatchObject({ onTarget: true });
    expect(String(r.json['message'])).toMatch(/would deny volumeDelete on volume vol-7f3a9d: .*production/);
    expect(r.headers['x-scopegate-decision']).toBe(r.json['decisionId']);
    // the lookups reached the fake; the delete never did
    expect(fake.received.some((x) => x.rootFields.includes('volumeDelete'))).toBe(false);
    expect(fake.received.length).toBeGreaterThan(0);
    expect((await allHolds()).length).toBe(holdsBefore);
    await app.holds.flushAudit();
    expect((await app.holds.store.queryAudit({ limit: 1000 })).filter((e) => e.decisionId === r.json['decisionId'])).toEqual([]);
    const line = running.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['decisionId'] === r.json['decisionId']);
    expect(line).toMatchObject({ msg: 'check', decision: 'deny', rule: 'never-destroy-protected', operation: 'volumeDelete', via: 'direct', status: 200 });
    // the placeholder went nowhere but to scopegate: not in the log
    expect(running.lines.join('\n')).not.toContain(token);
  });

  it('the staging-only volume is held (irreversible), yet the check makes no hold; the body may be a string, as sent', async () => {
    const holdsBefore = (await allHolds()).length;
    const r = await checkOf(JSON.stringify(SCRATCH), bearer(await mint()));
    expect(r.json).toMatchObject({ decision: 'hold', rule: 'irreversible-destruction' });
    expect((r.json['operations'] as Op[])[0]!.scope.environments).toEqual(['staging']);
    expect((await allHolds()).length).toBe(holdsBefore);
    expect(volumeDeletes()).toBe(0);
  });

  it('curl, path-form, with the placeholder in X-Scopegate-Token instead of the call\'s headers', async () => {
    const token = await mint();
    const r = await run('curl', ['-sS', '-X', 'POST', `${base}/v1/check`, '-H', 'content-type: application/json', '-H', `X-Scopegate-Token: ${token}`, '--data-binary', JSON.stringify({ host: GUARDED, path: '/graphql/v2', body: INCIDENT })]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ decision: 'deny', agent: 'ci-bot' });
  });

  it('a whole URL in "host" is taken apart; reads need no lookup and are allowed', async () => {
    const r = await check({ host: `https://${GUARDED}/graphql/v2`, headers: bearer(await mint()), body: { query: '{ me { id } }' } });
    expect(r.json).toMatchObject({ decision: 'allow', rule: 'reads' });
    expect((r.json['operations'] as Op[])[0]!.scope.status).toBe('not-needed');
  });
});

describe('through the proxy, to scopegate.internal', () => {
  it('undici ProxyAgent: absolute-form http://, CONNECT + cleartext http://, CONNECT + TLS https:// (the local CA) give the same answer', async () => {
    const token = await mint();
    const body = { host: GUARDED, path: '/graphql/v2', headers: bearer(token), body: INCIDENT };
    const absolute = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false });
    let answers: Answer[];
    try {
      answers = [
        await post('http://scopegate.internal/v1/check', body, {}, absolute),
        await post('http://scopegate.internal/v1/check', body, {}, running.agent),
        await post('https://scopegate.internal/v1/check', body, {}, running.agent),
      ];
    } finally {
      await absolute.close();
    }
    for (const r of answers) expect(r.json).toMatchObject({ decision: 'deny', rule: 'never-destroy-protected', agent: 'ci-bot' });
    const ids = new Set(answers.map((a) => a.json['decisionId']));
    const vias = running.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'check' && ids.has(l['decisionId'])).map((l) => l['via']);
    expect(vias.sort()).toEqual(['absolute-form', 'connect', 'connect']);
    expect(volumeDeletes()).toBe(0);
  });

  it('curl -x: http and https (trusting the CA), and /v1/scope; egress rules do not apply to scopegate itself', async () => {
    const token = await mint();
    const scopeBody = JSON.stringify({ provider: 'railway', type: 'volume', id: POCKETOS.volume.pgdata });
    for (const url of ['http://scopegate.internal/v1/scope', 'https://scopegate.internal/v1/scope']) {
      const r = await run('curl', ['-sS', '-x', proxyUrl, '--cacert', app.ca.certPath, '-X', 'POST', url, '-H', 'content-type: application/json', '-H', `X-Scopegate-Token: ${token}`, '--data-binary', scopeBody]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout) as { scope: Op['scope']; agent: string };
      expect(j.agent).toBe('ci-bot');
      expect([...j.scope.environments].sort()).toEqual(['production', 'staging']);
      expect(j.scope.shared).toBe(true);
    }
  });
});

describe('scopegate.internal is no way out', () => {
  it('a call addressed to it, even with a guarded Host or an absolute URL inside, is answered by scopegate and never forwarded', async () => {
    const token = await mint();
    const r = await run('curl', ['-sS', '-x', proxyUrl, '--cacert', app.ca.certPath, '-o', '/dev/null', '-w', '%{http_code}', 'https://scopegate.internal/graphql/v2', '-H', `Host: ${GUARDED}`, '-H', 'content-type: application/json', '-H', `authorization: Bearer ${token}`, '--data-binary', JSON.stringify(SCRATCH)]);
    expect(r.stdout).toBe('404');
    const pathForm = await request(`${base}/graphql/v2`, { method: 'POST', headers: { host: GUARDED, 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(SCRATCH) });
    expect(pathForm.statusCode).toBe(404);
    await pathForm.body.dump();
    expect(fake.received.length).toBe(0);
    expect((await allHolds()).filter((h) => h.agent === 'ci-bot' && h.status === 'pending').length).toBe(0);
  });
});

describe('POST /v1/scope', () => {
  it('the shared volume and the staging-only one, looked up live with the caller\'s credential', async () => {
    const token = await mint();
    const shared = await post(`${base}/v1/scope`, { provider: 'railway', type: 'volume', id: POCKETOS.volume.pgdata, headers: bearer(token) });
    expect(shared.status).toBe(200);
    expect((shared.json['scope'] as Op['scope']).summary).toMatch(/vol-7f3a9d .*bound to environments (production, staging|staging, production)/);
    const only = await post(`${base}/v1/scope`, { provider: 'railway', type: 'volume', id: POCKETOS.volume.scratch, headers: bearer(token) });
    expect(only.json['scope']).toMatchObject({ status: 'resolved', environments: ['staging'], shared: false });
    // with no credential at all, nothing is guessed
    const none = await post(`${base}/v1/scope`, { provider: 'railway', type: 'volume', id: POCKETOS.volume.pgdata });
    expect(none.json['scope']).toMatchObject({ status: 'unresolved' });
    expect(String((none.json['scope'] as { reason: string }).reason)).toMatch(/no Railway credential/);
  });
});

describe('identity: the caller is who its real calls would be', () => {
  it('a placeholder with a ceiling sees its own ceiling: the shared volume is denied by token-ceiling, the staging one left to the rules', async () => {
    const token = await mint(['staging']);
    const shared = await checkOf(INCIDENT, bearer(token));
    expect(shared.json).toMatchObject({ decision: 'deny', rule: 'token-ceiling', agent: 'ci-bot' });
    expect((shared.json['operations'] as Op[])[0]).toMatchObject({ decision: 'deny', rule: 'token-ceiling' });
    expect(String(shared.json['reason'])).toMatch(/may act only in staging; volumeDelete reaches production/);
    const staging = await checkOf(SCRATCH, bearer(token));
    expect(staging.json).toMatchObject({ decision: 'hold', rule: 'irreversible-destruction' });
  });

  it('Proxy-Authorization names the agent (path-form and through the proxy); a wrong secret is 407; a placeholder of another agent is refused', async () => {
    const auth = `Basic ${Buffer.from(`cleaner:${CLEANER_SECRET}`).toString('base64')}`;
    const r = await checkOf({ query: '{ me { id } }' }, {}, {});
    expect(r.json['agent']).toBe('anonymous');
    const named = await post(`${base}/v1/check`, { host: GUARDED, path: '/graphql/v2', body: { query: '{ me { id } }' } }, { 'proxy-authorization': auth });
    expect(named.json['agent']).toBe('cleaner');
    const viaProxy = new ProxyAgent({ uri: proxyUrl, token: auth, proxyTunnel: false });
    try {
      const through = await post('http://scopegate.internal/v1/check', { host: GUARDED, path: '/graphql/v2', body: { query: '{ me { id } }' } }, {}, viaProxy);
      expect(through.json['agent']).toBe('cleaner');
    } finally {
      await viaProxy.close();
    }
    const wrong = await request(`${base}/v1/check`, { method: 'POST', headers: { 'proxy-authorization': `Basic ${Buffer.from('cleaner:nope').toString('base64')}` }, body: '{}' });
    expect(wrong.statusCode).toBe(407);
    await wrong.body.dump();
    // a placeholder is ci-bot's: checked as cleaner, it is refused as the real call would be
    const clash = await post(`${base}/v1/check`, { host: GUARDED, path: '/graphql/v2', headers: bearer(await mint()), body: INCIDENT }, { 'proxy-authorization': auth });
    expect(clash.json).toMatchObject({ decision: 'deny', rule: 'identity' });
  });

  it('scopegate mcp\'s client carries the identity its environment gives: SCOPEGATE_PROXY_AUTH as Proxy-Authorization, SCOPEGATE_TOKEN as X-Scopegate-Token', async () => {
    const token = await mint(['staging']);
    const asCleaner = new PreflightClient(base, identityFromEnv({ SCOPEGATE_PROXY_AUTH: `cleaner:${CLEANER_SECRET}` }, PROVIDERS.values()));
    const asBot = new PreflightClient(base, identityFromEnv({ SCOPEGATE_TOKEN: token }, PROVIDERS.values()));
    try {
      const cleaner = await asCleaner.call('POST', '/v1/check', { host: GUARDED, path: '/graphql/v2', body: { query: '{ me { id } }' } });
      expect(cleaner).toMatchObject({ ok: true, body: { agent: 'cleaner' } });
      const bot = await asBot.call('POST', '/v1/check', { host: GUARDED, path: '/graphql/v2', body: INCIDENT });
      expect(bot).toMatchObject({ ok: true, body: { agent: 'ci-bot', decision: 'deny', rule: 'token-ceiling' } });
    } finally {
      await asCleaner.close();
      await asBot.close();
    }
  });

  it('a real token in the check is what the real call would be: denied as real-credential, and the token is in no log line', async () => {
    const r = await checkOf(INCIDENT, bearer(REAL));
    expect(r.json).toMatchObject({ decision: 'deny', rule: 'real-credential' });
    expect(running.lines.join('\n')).not.toContain(REAL);
    expect(fake.received.length).toBe(0);
  });
});

describe('bad input gets 400 and says what to send', () => {
  it.each([
    ['not JSON', 'volumeDelete please', /not JSON; send \{"host"/],
    ['not an object', '[1,2]', /not an object; send/],
    ['no host', { path: '/graphql/v2', body: INCIDENT }, /"host" is missing/],
    ['a host that is not guarded', { host: 'example.com', path: '/', body: INCIDENT }, /example\.com is not guarded .*guarded hosts are backboard\.railway\.com/],
    ['no path', { host: GUARDED, body: INCIDENT }, /"path" must be the request path/],
    ['headers that are not strings', { host: GUARDED, path: '/graphql/v2', headers: { authorization: 5 }, body: INCIDENT }, /must have a string value/],
    ['a body that is not a GraphQL request', { host: GUARDED, path: '/graphql/v2', body: 'hello' }, /cannot judge this call as described .*SCOPEGATE_UNJUDGEABLE; send/],
    ['a body without a query', { host: GUARDED, path: '/graphql/v2', body: { variables: {} } }, /cannot judge this call/],
  ])('%s', async (_what, body, message) => {
    const r = await check(body);
    expect(r.status).toBe(400);
    expect(String(r.json['error'])).toMatch(message);
  });

  it('an unknown provider for /v1/scope, a wrong method, a path scopegate does not have', async () => {
    const p = await post(`${base}/v1/scope`, { provider: 'heroku', type: 'volume', id: 'x' });
    expect(p.status).toBe(400);
    expect(String(p.json['error'])).toMatch(/provider "heroku" is not guarded .*guarded providers are railway; send \{"provider"/);
    const get = await request(`${base}/v1/check`);
    expect(get.statusCode).toBe(405);
    expect(get.headers['allow']).toBe('POST');
    await get.body.dump();
    const missing = await request(`${base}/v2/anything`);
    expect(missing.statusCode).toBe(404);
    expect(await missing.body.text()).toMatch(/POST \/v1\/check/);
    expect(volumeDeletes()).toBe(0);
  });
});

describe('bounded', () => {
  it('a caller gets at most --check-concurrency checks at once: the next is 429 until one ends', async () => {
    // two checks whose bodies never finish hold both slots; no timing is involved
    const open: Socket[] = [];
    const statusOf = (s: Socket): Promise<string> => new Promise((resolve) => {
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString()));
      s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    });
    const ends: Promise<string>[] = [];
    for (let i = 0; i < 2; i++) {
      const s = connect(running.at.proxy.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.write(`POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{"host":`);
      open.push(s);
      ends.push(statusOf(s));
    }
    // both are inside the limiter once their headers are parsed: poll until the third is refused (bounded)
    let third: Answer | undefined;
    for (let i = 0; i < 50; i++) {
      third = await checkOf({ query: '{ me { id } }' });
      if (third.status === 429) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(third!.status).toBe(429);
    expect(String(third!.json['error'])).toMatch(/at most 2/);
    for (const s of open) s.end('"x"}'.padEnd(32, ' '));
    const statuses = await Promise.all(ends);
    for (const st of statuses) expect(st).toMatch(/^HTTP\/1\.1 400/);
    expect((await checkOf({ query: '{ me { id } }' })).status).toBe(200);
  });
});

describe('a check never consumes an approval', () => {
  it('held call, approved; the check says the approval covers it and leaves it unused; the retry goes through once; then hold status says used', async () => {
    const token = await mint();
    const first = await realCall(SCRATCH, bearer(token));
    expect(first.code).toBe('SCOPEGATE_HOLD_PENDING');
    // the agent's answer teaches the pre-flight check
    expect(first.message).toContain('http://scopegate.internal/v1/check');
    const holdId = first.holdId!;
    const status = await request(`${base}/v1/holds/${holdId}`, { headers: { 'x-scopegate-token': token } });
    expect(((await status.body.json()) as { status: string }).status).toBe('pending');
    await app.holds.decide(holdId, true, 'test-person', null);
    for (let i = 0; i < 2; i++) {
      const c = await checkOf(SCRATCH, bearer(token));
      expect(c.json).toMatchObject({ decision: 'hold', approval: { holdId, approvedBy: 'test-person' } });
      expect(String(c.json['message'])).toMatch(/goes through once/);
    }
    expect((await app.holds.store.getHold(holdId))!.status).toBe('approved');
    expect(volumeDeletes()).toBe(0);
    expect((await realCall(SCRATCH, bearer(token))).code).toBe('FORWARDED');
    expect(volumeDeletes()).toBe(1);
    const after = await request(`${base}/v1/holds/${holdId}`, { headers: { 'x-scopegate-token': token } });
    expect(await after.body.json()).toMatchObject({ id: holdId, status: 'used', operation: 'volumeDelete' });
  });

  it('a hold is only its own agent\'s to see: anonymous and another agent get 404, the same as no hold', async () => {
    const token = await mint();
    const held = await realCall(SCRATCH, bearer(token));
    const id = held.holdId!;
    const mine = await request(`${base}/v1/holds/${id}`, { headers: { 'x-scopegate-token': token } });
    expect(await mine.body.json()).toMatchObject({ id, status: 'pending', next: expect.stringMatching(/scopegate holds approve/) });
    const anon = await request(`${base}/v1/holds/${id}`);
    expect(anon.statusCode).toBe(404);
    await anon.body.dump();
    const other = await request(`${base}/v1/holds/${id}`, { headers: { 'proxy-authorization': `Basic ${Buffer.from(`cleaner:${CLEANER_SECRET}`).toString('base64')}` } });
    expect(other.statusCode).toBe(404);
    expect(await other.body.text()).toMatch(/agent cleaner has no hold/);
    const none = await request(`${base}/v1/holds/H-nothing-here`, { headers: { 'x-scopegate-token': token } });
    expect(none.statusCode).toBe(404);
    await none.body.dump();
  });
});
