import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { TestUpstream } from '../helpers/upstream.js';
import { CLI, ROOT, startProxy } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

const GUARDED = 'backboard.railway.com';
const EVIL = JSON.stringify({ query: 'mutation { volumeDelete(volumeId: "vol-7f3a9d") }' });
let pki: TestPki;
let upstream: TestUpstream;

beforeAll(async () => {
  pki = makeTestPki('upstream', [GUARDED]);
  upstream = await new TestUpstream(pki).start();
});
afterAll(async () => {
  await upstream?.stop();
});

const route = () => ['--hold-timeout', '0', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`];

async function call(proxyUrl: string, ca: string, body: string, auth?: string): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca }, ...(auth ? { token: `Basic ${Buffer.from(auth).toString('base64')}` } : {}) });
  try {
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
  } catch (err) {
    return { status: -1, text: String((err as Error).message), headers: {} };
  } finally {
    await agent.close();
  }
}

describe('the policy, live in a running proxy', () => {
  it('is reloaded on file change and on SIGHUP; an invalid file keeps the old policy', async () => {
    const file = join(pki.dir, 'live.yaml');
    const allowAll = 'version: 1\nproviders: { railway: {} }\nrules:\n  - name: open\n    match: {}\n    action: allow\n';
    const denyDelete = 'version: 1\nproviders: { railway: {} }\nrules:\n  - name: no-delete\n    match: { operation: volumeDelete }\n    action: deny\n  - name: open\n    match: {}\n    action: allow\n';
    writeFileSync(file, allowAll);
    const p = await startProxy({ args: ['--policy', file, ...route()] });
    try {
      const seen = upstream.seen.length;
      expect((await call(p.proxyUrl, p.caPem, EVIL)).status).toBe(200);
      expect(upstream.seen.length).toBe(seen + 1);
      writeFileSync(file, denyDelete);
      await p.waitForLog((l) => l.msg === 'policy loaded' && l.trigger === 'file change');
      const denied = await call(p.proxyUrl, p.caPem, EVIL);
      expect(denied.text).toContain('SCOPEGATE_DENIED');
      expect(upstream.seen.length).toBe(seen + 1);
      writeFileSync(file, 'version: 1\nrules:\n  - name: x\n    actoin: allow\n');
      const failed = await p.waitForLog((l) => l.msg.startsWith('policy reload failed'));
      expect((failed.problems as string[]).join("\n")).toMatch(/unknown key "actoin"; did you mean "action"/);
      expect((await call(p.proxyUrl, p.caPem, EVIL)).text).toContain('SCOPEGATE_DENIED');
      // SIGHUP re-reads the file even when no change event fires
      writeFileSync(file, allowAll);
      p.child.kill('SIGHUP');
      await p.waitForLog((l) => l.msg === 'policy loaded' && l.rules === 1);
      expect((await call(p.proxyUrl, p.caPem, EVIL)).status).toBe(200);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('monitor mode forwards everything and logs what enforcement would have done', async () => {
    const p = await startProxy({ args: ['--policy', join(ROOT, 'policies', 'observe.yaml'), ...route()] });
    try {
      const seen = upstream.seen.length;
      const r = await call(p.proxyUrl, p.caPem, EVIL);
      expect(r.status).toBe(200);
      expect(upstream.seen.length).toBe(seen + 1);
      const line = await p.waitForLog((l) => l.msg === 'request' && l.operation === 'volumeDelete');
      expect(line).toMatchObject({ decision: 'allow', wouldBe: 'hold', enforced: false, rule: 'unresolved-scope' });
    } finally {
      await p.stop();
    }
  });

  it('--answer-status http answers 409 for a hold and 403 for a deny; graphql (default) answers 200', async () => {
    const file = join(pki.dir, 'status.yaml');
    writeFileSync(file, 'version: 1\nproviders: { railway: {} }\nrules:\n  - name: no-delete\n    match: { operation: volumeDelete }\n    action: deny\n');
    const p = await startProxy({ args: ['--policy', file, '--answer-status', 'http', ...route()] });
    try {
      const denied = await call(p.proxyUrl, p.caPem, EVIL);
      expect(denied.status).toBe(403);
      expect(JSON.parse(denied.text).errors[0].extensions.code).toBe('SCOPEGATE_DENIED');
      const held = await call(p.proxyUrl, p.caPem, JSON.stringify({ query: 'mutation { serviceDelete(id: "svc-api") }' }));
      expect(held.status).toBe(409);
      expect(JSON.parse(held.text).errors[0].extensions.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(held.headers['x-scopegate-decision']).toBe(JSON.parse(held.text).errors[0].extensions.decisionId);
    } finally {
      await p.stop();
    }
  });

  it('agents: a declared agent needs its secret (407 otherwise); a rule can single it out; anonymous can be refused', async () => {
    const file = join(pki.dir, 'agents.yaml');
    writeFileSync(file, [
      'version: 1',
      'providers: { railway: {} }',
      'agents:',
      '  cleaner: { secret_env: SG_TEST_CLEANER }',
      'defaults: { anonymous: deny }',
      'rules:',
      '  - name: cleaner-may-delete',
      '    match: { agent: cleaner, operation: volumeDelete }',
      '    action: allow',
      '  - name: reads',
      '    match: { class: read }',
      '    action: allow',
      '',
    ].join('\n'));
    const p = await startProxy({ args: ['--policy', file, ...route()], env: { SG_TEST_CLEANER: 'cleaner-secret-123456' } });
    try {
      expect((await call(p.proxyUrl, p.caPem, EVIL, 'cleaner:cleaner-secret-123456')).status).toBe(200);
      const wrong = await call(p.proxyUrl, p.caPem, EVIL, 'cleaner:guess-guess-guess');
      expect(wrong.status).toBe(-1);
      expect(wrong.text).toMatch(/407/);
      const anon = await call(p.proxyUrl, p.caPem, EVIL);
      expect(anon.text).toMatch(/407/);
      const line = await p.waitForLog((l) => l.rule === 'identity' && /wrong secret for agent cleaner/.test(String(l.reason)));
      expect(line.status).toBe(407);
      expect(p.stdout()).not.toContain('guess-guess-guess');
      expect(p.stdout()).not.toContain('cleaner-secret-123456');
      const ok = await p.waitForLog((l) => l.msg === 'request' && l.agent === 'cleaner');
      expect(ok).toMatchObject({ decision: 'allow', rule: 'cleaner-may-delete' });
    } finally {
      await p.stop();
    }
  });
});

describe('scopegate explain', () => {
  const fx = (n: string) => join(ROOT, 'test', 'fixtures', 'explain', n);
  it('decides the incident call offline: deny with the live scope, hold without it', async () => {
    const withScope = await run(process.execPath, [CLI, 'explain', '--request', fx('incident.json'), '--scope', fx('shared-volume-scope.json'), '--json']);
    expect(withScope.code).toBe(0);
    expect(JSON.parse(withScope.stdout)).toMatchObject({ decision: 'deny', rule: 'never-destroy-protected', operations: [{ operation: 'volumeDelete', alias: 'stagingCleanup', target: { id: 'vol-7f3a9d' } }] });
    const text = await run(process.execPath, [CLI, 'explain', '--request', fx('incident.json')]);
    expect(text.stdout).toMatch(/rule {6}unresolved-scope \(.*default.yaml:\d+\) → hold/);
    expect(text.stdout).toMatch(/^decision {2}hold/m);
  });
  it('shows the traffic and decides by it: the shipped rules say hold, the commented example rule refuses a busy target', async () => {
    const shipped = await run(process.execPath, [CLI, 'explain', '--request', fx('scratch-delete.json'), '--scope', fx('busy-staging-scope.json')]);
    expect(shipped.code).toBe(0);
    expect(shipped.stdout).toContain('scope     volume vol-stg-only (scratch) is bound to environment staging; live deployments in staging (3 replicas); traffic active: staging served 12 requests in the last 15 min, last 10 s ago, 2.0 KiB in / 4.0 KiB out; no backups');
    expect(shipped.stdout).toMatch(/^decision {2}hold, by rule irreversible-destruction/m);
    const text = readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8');
    const file = join(mkdtempSync(join(tmpdir(), 'sg-explain-')), 'policy.yaml');
    writeFileSync(file, text.replace(/^ {2}# (- name: never-destroy-in-use\n(?: {2}# .*\n)+)/m, (m) => m.replace(/^ {2}# /gm, '  ')));
    const strict = await run(process.execPath, [CLI, 'explain', '--policy', file, '--request', fx('scratch-delete.json'), '--scope', fx('busy-staging-scope.json'), '--json']);
    expect(JSON.parse(strict.stdout)).toMatchObject({ decision: 'deny', rule: 'never-destroy-in-use', operations: [{ because: ['class destructive-irreversible', 'it is in use: traffic in staging'], scope: { traffic: { state: 'active' } } }] });
  });
  it('a misspelt set name is refused, not read as an environment that lets the incident call through', async () => {
    const typo = join(ROOT, 'test', 'fixtures', 'policies', 'set-name-typo.yaml');
    const r = await run(process.execPath, [CLI, 'explain', '--policy', typo, '--request', fx('incident.json'), '--scope', fx('shared-volume-scope.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/set-name-typo.yaml:10:40: .*"protected-envs" is not a declared set; did you mean "protected-environments"\?/);
    expect(r.stdout).not.toMatch(/allow/);
    // the same policy with the set named right denies the incident call
    const fixed = join(mkdtempSync(join(tmpdir(), 'sg-set-')), 'fixed.yaml');
    writeFileSync(fixed, readFileSync(typo, 'utf8').replace('protected-envs', 'protected-environments'));
    const ok = await run(process.execPath, [CLI, 'explain', '--policy', fixed, '--request', fx('incident.json'), '--scope', fx('shared-volume-scope.json'), '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ decision: 'deny', rule: 'never-destroy-protected' });
  });
  it('bad input exits 2 naming the file', async () => {
    const r = await run(process.execPath, [CLI, 'explain', '--request', '/nonexistent.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--request \/nonexistent.json: cannot read it \(ENOENT\)/);
  });
});
