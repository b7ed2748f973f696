import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ProxyAgent, request } from 'undici';
import type { Scopegate } from '../../src/app.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import type { ProviderAdapter } from '../../src/providers/types.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { toy } from '../fixtures/toy-provider/index.js';

/**
 * The seam, proved: a REST provider that lives only in test/fixtures/toy-provider/ is listed next
 * to the shipped ones, and the real gate — in process, through createScopegate, with a real TLS
 * client through the proxy and a real HTTPS upstream — reads its calls, looks its target up live,
 * holds its destructive call in its own error shape, lets the approved call through once, and
 * records every decision.
 */
const HOST = 'api.toy.test';
const KEY = 'toy-key-0123456789';
let pki: TestPki;
let upstream: Server;
const seen: string[] = [];
let app: Scopegate;
let agent: ProxyAgent;
let running: InProcess;

beforeAll(async () => {
  pki = makeTestPki('toy', [HOST]);
  upstream = createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    seen.push(`${req.method} ${req.url} key=${req.headers['x-toy-key'] === KEY}`);
    const bindings = /^\/v1\/boxes\/([a-z0-9-]+)\/bindings$/.exec(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (bindings) res.end(JSON.stringify({ environments: bindings[1] === 'box-prod' ? [{ id: 'e-prod', name: 'production' }, { id: 'e-stg', name: 'staging' }] : [{ id: 'e-stg', name: 'staging' }] }));
    else res.end(JSON.stringify({ ok: true, method: req.method, url: req.url }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as AddressInfo).port;

  // the one line where providers are listed, for this test: the shipped ones and the toy
  const providers: ReadonlyMap<string, ProviderAdapter> = new Map([...PROVIDERS, [toy.name, toy]]);
  const policy = parsePolicy(
    [
      'version: 1',
      'providers:',
      '  toy: {}',
      'rules:',
      '  - { name: reads, match: { class: read }, action: allow }',
      '  - { name: never-destroy-protected, match: { class: destructive-irreversible, scope: { environments: { any_in: protected-environments } } }, action: deny }',
      '  - { name: destruction, match: { class: destructive-irreversible }, action: hold }',
      '  - { name: rest, match: {}, action: allow }',
      '',
    ].join('\n'),
    'toy.yaml',
    providers,
  );
  running = await startInProcess({ policy, providers, routes: new Map([[HOST, { address: '127.0.0.1', port }]]), upstreamCa: pki.caPem, logLevel: 'info' });
  ({ app, agent } = running);
});

afterAll(async () => {
  await running?.stop();
  await new Promise((r) => upstream?.close(r));
});

const call = async (method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await request(`https://${HOST}${path}`, { dispatcher: agent, method, headers: { 'x-toy-key': KEY } });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
};
/** The app's log lines, parsed. */
const logLines = (): Record<string, unknown>[] => running.lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const lineFor = async (pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
  for (let i = 0; i < 40; i++) {
    const l = logLines().find(pred);
    if (l) return l;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no such log line');
};

describe('a REST provider plugged in from its own folder', () => {
  it('listening on loopback only, scopegate has nothing to warn about', () => {
    expect(running.at.warnings).toEqual([]);
  });

  it('its read goes through untouched, with no lookup', async () => {
    seen.length = 0;
    const r = await call('GET', '/v1/boxes/box-1');
    expect(r).toEqual({ status: 200, body: { ok: true, method: 'GET', url: '/v1/boxes/box-1' } });
    expect(seen).toEqual(['GET /v1/boxes/box-1 key=true']);
    expect(await lineFor((l) => l['msg'] === 'request' && l['operation'] === 'getBox')).toMatchObject({ provider: 'toy', decision: 'allow', rule: 'reads', class: 'read' });
  });

  it('its destructive call is looked up live and held, answered in its own error shape; approved, it goes through once', async () => {
    seen.length = 0;
    const held = await call('DELETE', '/v1/boxes/box-1');
    expect(held.status).toBe(409);
    const err = held.body['error'] as Record<string, unknown>;
    expect(err).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'destruction', operation: 'deleteBox', class: 'destructive-irreversible', target: { type: 'box', id: 'box-1' } });
    // the live lookup was made with the agent's own key; the DELETE itself never reached the provider
    expect(seen).toEqual(['GET /v1/boxes/box-1/bindings key=true']);
    const holdId = String(err['holdId']);
    expect(await app.holds.store.getHold(holdId)).toMatchObject({ status: 'pending', operation: 'deleteBox', host: HOST });
    expect((await app.holds.decide(holdId, true, 'test', null))?.status).toBe('approved');
    expect((await call('DELETE', '/v1/boxes/box-1')).body).toEqual({ ok: true, method: 'DELETE', url: '/v1/boxes/box-1' });
    expect((await call('DELETE', '/v1/boxes/box-1')).status).toBe(409);
    expect(seen.filter((s) => s.startsWith('DELETE'))).toEqual(['DELETE /v1/boxes/box-1 key=true']);
    const events = (await app.holds.store.queryAudit({ hold: holdId, limit: 20 })).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['hold', 'approve', 'use', 'forward']));
  });

  it('its destructive call on a box bound to production is denied by the live scope', async () => {
    seen.length = 0;
    const r = await call('DELETE', '/v1/boxes/box-prod');
    expect(r.status).toBe(403);
    expect(r.body['error']).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected', scope: { environments: ['production', 'staging'], shared: true } });
    expect(seen).toEqual(['GET /v1/boxes/box-prod/bindings key=true']);
  });

  it('its credential header never reaches a log line', () => {
    expect(running.lines.join('')).not.toContain(KEY);
    expect(logLines().some((l) => l['provider'] === 'toy')).toBe(true);
  });
});
