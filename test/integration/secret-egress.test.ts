import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyAgent, request } from 'undici';
import type { Scopegate } from '../../src/app.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { railway } from '../../src/providers/railway/index.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Secret egress (issue 17, item 6): the agent holds a placeholder; the real token, in any spelling,
 * in anything it sends — a GraphQL variable, a header, the URL, a plain-HTTP request to any host —
 * is refused (rule secret-egress) and audited with the credential's name, never the value. The real
 * app in process, a real TLS client through it, the fake Railway and a plain HTTP server behind it.
 */
const GUARDED = 'backboard.railway.com';
const REAL = POCKETOS.token.account;
let pki: TestPki;
let fake: FakeRailway;
let app: Scopegate;
let agent: ProxyAgent;
let proxyPort: number;
let lines: string[] = [];
let running: InProcess;
/** A host scopegate does not guard, reached as plain HTTP through the proxy. */
let plain: Server;
const plainGot: { url: string; headers: IncomingHttpHeaders }[] = [];
let placeholder: string;

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  const policy = parsePolicy(
    custodyPolicyYaml('SG_TEST_RAILWAY_TOKEN'),
    'secret-egress.yaml',
    PROVIDERS,
    { SG_TEST_RAILWAY_TOKEN: REAL },
  );
  plain = createServer((req, res) => {
    plainGot.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => res.end('plain ok'));
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  running = await startInProcess({ policy, providers: PROVIDERS, routes: new Map([[GUARDED, { address: '127.0.0.1', port: fake.port }]]), upstreamCa: pki.caPem });
  ({ app, agent, lines } = running);
  proxyPort = running.at.proxy.port;
  placeholder = (await app.placeholders.mint({ agent: 'ci-bot', credential: 'railway-owner', adapter: railway, environments: [] })).token;
});

afterAll(async () => {
  await running?.stop();
  await fake?.stop();
  await new Promise((r) => plain?.close(r));
});

/** A call with the placeholder (as an agent makes it), plus whatever else it carries. */
async function call(opts: { variables?: Record<string, unknown>; headers?: Record<string, string>; path?: string; query?: string }): Promise<{ code: string; rule?: string; body: Record<string, unknown> }> {
  const res = await request(`https://${GUARDED}${opts.path ?? '/graphql/v2'}`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${placeholder}`, ...opts.headers },
    body: JSON.stringify({ query: opts.query ?? '{ me { id } }', variables: opts.variables ?? {} }),
  });
  const body = (await res.body.json()) as Record<string, unknown>;
  const err = (body['errors'] as { extensions?: Record<string, unknown> }[] | undefined)?.[0];
  return { code: String(err?.extensions?.['code'] ?? (err ? 'PROVIDER_ERROR' : 'FORWARDED')), rule: err?.extensions?.['rule'] as string | undefined, body };
}

/** A plain-HTTP request in absolute form through the proxy (the way curl --proxy sends http:// URLs). */
function absolute(path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string }> {
  const port = (plain.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: body ? 'POST' : 'GET', path: `http://127.0.0.1:${port}${path}`, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const b64 = Buffer.from(REAL).toString('base64');
const pctUpper = [...Buffer.from(REAL)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
const uEscaped = REAL.split('').map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

describe('a custody secret never leaves through an agent\'s request', () => {
  it('an ordinary call with the placeholder still goes through', async () => {
    fake.received.length = 0;
    const r = await call({ variables: { v: 'hello' } });
    expect(r.code, JSON.stringify(r.body)).toBe('FORWARDED');
    expect(fake.received.at(-1)).toMatchObject({ executed: true, tokenKind: 'account' });
  });

  for (const [how, value] of [['as is', REAL], ['base64', b64], ['base64url', Buffer.from(REAL).toString('base64url')], ['percent-encoded', pctUpper.toLowerCase()]] as const) {
    it(`the secret in a GraphQL variable (${how}) is refused and reaches nothing`, async () => {
      fake.received.length = 0;
      const r = await call({ variables: { v: value } });
      expect(r).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'secret-egress' });
      expect(JSON.stringify(r.body)).toContain('railway-owner');
      expect(JSON.stringify(r.body)).not.toContain(REAL);
      expect(fake.received.length).toBe(0);
    });
  }

  it('the secret \\u-escaped in the JSON body is refused', async () => {
    fake.received.length = 0;
    const res = await request(`https://${GUARDED}/graphql/v2`, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${placeholder}` },
      body: `{"query":"query q($v: String) { me { id } }","variables":{"v":"${uEscaped}"}}`,
    });
    const body = (await res.body.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'secret-egress' });
    expect(fake.received.length).toBe(0);
  });

  it('the secret in a custom header, and base64 in a Basic-style header, are refused', async () => {
    fake.received.length = 0;
    expect(await call({ headers: { 'x-debug-token': REAL } })).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'secret-egress' });
    expect(await call({ headers: { 'x-forward-auth': `Basic ${Buffer.from(`me:${REAL}`).toString('base64')}` } })).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'secret-egress' });
    expect(fake.received.length).toBe(0);
  });

  it('the secret in the URL query is refused', async () => {
    fake.received.length = 0;
    expect(await call({ path: `/graphql/v2?leak=${pctUpper}` })).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'secret-egress' });
    expect(await call({ path: `/graphql/v2?leak=${encodeURIComponent(b64)}` })).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'secret-egress' });
    expect(fake.received.length).toBe(0);
  });

  it('a real token in the provider\'s own token header is still custody\'s real-credential', async () => {
    fake.received.length = 0;
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${REAL}` }, body: JSON.stringify({ query: '{ me { id } }' }) });
    const body = (await res.body.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'real-credential' });
    expect(fake.received.length).toBe(0);
  });

  it('plain HTTP to a host scopegate does not guard: the secret in a header or the URL is refused with 403; the server gets nothing', async () => {
    plainGot.length = 0;
    const ok = await absolute('/hello?x=1', { 'x-note': 'nothing secret' });
    expect(ok).toMatchObject({ status: 200, text: 'plain ok' });
    expect(plainGot.length).toBe(1);
    plainGot.length = 0;
    const inHeader = await absolute('/hello', { 'x-note': `token ${REAL}` });
    expect(inHeader.status).toBe(403);
    expect(inHeader.text).toContain('railway-owner');
    expect(inHeader.text).not.toContain(REAL);
    expect((await absolute(`/hello?t=${pctUpper.toLowerCase()}`)).status).toBe(403);
    expect((await absolute(`/hello?t=${encodeURIComponent(b64)}`)).status).toBe(403);
    // a body is streamed, never read; the headers still are, and the request stops there
    expect((await absolute('/upload', { authorization: `Bearer ${REAL}`, 'content-type': 'text/plain' }, 'some body')).status).toBe(403);
    expect(plainGot).toEqual([]);
  });

  it('every refusal is audited as secret-egress with the credential\'s name, never the value; no log line has it either', async () => {
    await app.holds.flushAudit();
    const seen = (await app.holds.store.queryAudit({ limit: 200 })).filter((e) => e.event === 'secret-egress');
    expect(seen.length).toBeGreaterThanOrEqual(10);
    for (const e of seen) expect(e.detail).toMatchObject({ credential: 'railway-owner' });
    expect(seen.some((e) => e.host === '127.0.0.1' && e.detail?.['where'] === 'header x-note')).toBe(true);
    expect(seen.some((e) => e.host === GUARDED && e.agent === 'ci-bot' && e.detail?.['where'] === 'body')).toBe(true);
    const all = JSON.stringify(seen) + lines.join('');
    for (const v of [REAL, b64, pctUpper, pctUpper.toLowerCase(), Buffer.from(REAL).toString('base64url')]) expect(all).not.toContain(v);
  });
});
