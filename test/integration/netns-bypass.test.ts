import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { createAgentNetns, netnsSupport, redirectToTransparent, type AgentNetns } from '../helpers/netns.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';
import { agentEnvironment } from '../../src/cli/env.js';

/**
 * The bypass test: an "agent" network namespace whose only way out is scopegate. Real clients
 * (curl, node's fetch, python's urllib) inside it reach the fake Railway only through scopegate,
 * in explicit mode and in transparent mode; the incident call is denied; going direct fails.
 */
const support = netnsSupport();
if (!support.ok) console.warn(`skipping the network-namespace bypass test: ${support.reason}`);

const GUARDED = 'backboard.railway.com';
const READ = JSON.stringify({ query: '{ me { id } }' });
const EVIL = JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }` });
const AUTH = `Bearer ${POCKETOS.token.account}`;

let pki: TestPki;
let fake: FakeRailway;
let ns: AgentNetns;
let proxy: ProxyProcess;
let transparentPort = 0;

beforeAll(async () => {
  if (!support.ok) return;
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  ns = createAgentNetns();
  proxy = await startProxy({
    args: ['--listen', `${ns.hostIp}:0`, '--transparent', `${ns.hostIp}:0`, '--hold-timeout', '0', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`],
  });
  const listening = await proxy.waitForLog((l) => l.msg === 'listening');
  transparentPort = Number(String(listening['transparent']).split(':').pop());
  redirectToTransparent(ns, transparentPort);
});

afterAll(async () => {
  await proxy?.stop();
  ns?.destroy();
  await fake?.stop();
});

const volumeDeletes = (): number => fake.received.filter((r) => r.executed && r.rootFields.includes('volumeDelete')).length;

describe.skipIf(!support.ok)('an agent whose only way out is scopegate', () => {
  describe('explicit mode (HTTPS_PROXY)', () => {
    const env = () => Object.fromEntries(agentEnvironment({ host: ns.hostIp, port: proxy.proxyPort }, proxy.caDir));

    it('curl: a read passes, the incident call is denied', async () => {
      const base = ['-sS', '--max-time', '10', '--proxy', `http://${ns.hostIp}:${proxy.proxyPort}`, '--cacert', join(proxy.caDir, 'ca.pem'), '-H', `Authorization: ${AUTH}`, '-H', 'content-type: application/json'];
      const read = await ns.exec('curl', [...base, '--data', READ, `https://${GUARDED}/graphql/v2`]);
      expect(read.stderr).toBe('');
      expect(JSON.parse(read.stdout)).toEqual({ data: { me: expect.objectContaining({ id: expect.any(String) }) } });
      const evil = await ns.exec('curl', [...base, '--data', EVIL, `https://${GUARDED}/graphql/v2`]);
      expect(JSON.parse(evil.stdout).errors[0].extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected' });
      expect(volumeDeletes()).toBe(0);
    });

    it("node's global fetch, made proxy-aware only by scopegate env's NODE_OPTIONS preload", async () => {
      const script = join(pki.dir, 'agent.mjs');
      writeFileSync(script, `
        const call = async (body) => (await fetch('https://${GUARDED}/graphql/v2', { method: 'POST', headers: { 'content-type': 'application/json', authorization: process.env.TOKEN }, body })).json();
        console.log(JSON.stringify([await call(${JSON.stringify(READ)}), await call(${JSON.stringify(EVIL)})]));
      `);
      // what the MCP SDK's stdio transport passes a server (HOME, LOGNAME, PATH, SHELL, TERM, USER)
      // plus the server's own env block with scopegate's variables — and nothing else
      const mcp = { HOME: process.env['HOME'] ?? '/root', LOGNAME: 'root', PATH: process.env['PATH'] ?? '/usr/bin', SHELL: '/bin/sh', TERM: 'dumb', USER: 'root' };
      const r = await ns.exec(process.execPath, [script], { env: { ...mcp, ...env(), TOKEN: AUTH }, inheritEnv: false });
      expect(r.stderr).toBe('');
      const [read, evil] = JSON.parse(r.stdout);
      expect(read.data.me).toBeDefined();
      expect(evil.errors[0].extensions.code).toBe('SCOPEGATE_DENIED');
      expect(volumeDeletes()).toBe(0);
    });

    it("python's urllib, through HTTPS_PROXY and SSL_CERT_FILE from scopegate env", async () => {
      const script = [
        'import json, os, urllib.request',
        `def call(body):`,
        `    req = urllib.request.Request("https://${GUARDED}/graphql/v2", data=body.encode(), headers={"content-type": "application/json", "authorization": os.environ["TOKEN"]})`,
        '    return json.loads(urllib.request.urlopen(req, timeout=10).read())',
        `print(json.dumps([call(${JSON.stringify(READ)}), call(${JSON.stringify(EVIL)})]))`,
      ].join('\n');
      const r = await ns.exec('python3', ['-c', script], { env: { ...env(), TOKEN: AUTH } });
      expect(r.stderr).toBe('');
      const [read, evil] = JSON.parse(r.stdout);
      expect(read.data.me).toBeDefined();
      expect(evil.errors[0].extensions.code).toBe('SCOPEGATE_DENIED');
    });
  });

  describe('transparent mode (outbound 443 redirected to scopegate inside the namespace)', () => {
    it('curl with no proxy setting at all: the incident call is denied', async () => {
      const r = await ns.exec('curl', ['-sS', '--max-time', '10', '--noproxy', '*', '--resolve', `${GUARDED}:443:${ns.decoyIp}`, '--cacert', join(proxy.caDir, 'ca.pem'), '-H', `Authorization: ${AUTH}`, '-H', 'content-type: application/json', '--data', EVIL, `https://${GUARDED}/graphql/v2`]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).errors[0].extensions).toMatchObject({ code: 'SCOPEGATE_DENIED' });
      const line = await proxy.waitForLog((l) => l.msg === 'request' && l.via === 'transparent' && l.decision === 'deny');
      expect(line.operation).toBe('volumeDelete');
    });

    it('node and python, resolving the name to the redirected address', async () => {
      const node = join(pki.dir, 'transparent.mjs');
      writeFileSync(node, `
        import https from 'node:https';
        const req = https.request({ host: '${GUARDED}', path: '/graphql/v2', method: 'POST', lookup: (h, o, cb) => o.all ? cb(null, [{ address: '${ns.decoyIp}', family: 4 }]) : cb(null, '${ns.decoyIp}', 4), headers: { 'content-type': 'application/json', authorization: process.env.TOKEN } }, (res) => { let b = ''; res.on('data', (c) => b += c); res.on('end', () => console.log(b)); });
        req.end(${JSON.stringify(EVIL)});
      `);
      const n = await ns.exec(process.execPath, [node], { env: { NODE_EXTRA_CA_CERTS: join(proxy.caDir, 'ca.pem'), TOKEN: AUTH } });
      expect(n.stderr).toBe('');
      expect(JSON.parse(n.stdout).errors[0].extensions.code).toBe('SCOPEGATE_DENIED');
      const py = [
        'import json, os, socket, ssl, urllib.request',
        'real = socket.getaddrinfo',
        `socket.getaddrinfo = lambda host, *a, **k: real("${ns.decoyIp}" if host == "${GUARDED}" else host, *a, **k)`,
        `ctx = ssl.create_default_context(cafile="${join(proxy.caDir, 'ca.pem')}")`,
        `req = urllib.request.Request("https://${GUARDED}/graphql/v2", data=${JSON.stringify(EVIL)}.encode(), headers={"content-type": "application/json", "authorization": os.environ["TOKEN"]})`,
        'print(urllib.request.urlopen(req, context=ctx, timeout=10).read().decode())',
      ].join('\n');
      const p = await ns.exec('python3', ['-c', py], { env: { TOKEN: AUTH, NO_PROXY: '*' } });
      expect(p.stderr).toBe('');
      expect(JSON.parse(p.stdout).errors[0].extensions.code).toBe('SCOPEGATE_DENIED');
      expect(volumeDeletes()).toBe(0);
    });
  });

  describe('exposure is said, not silent', () => {
    it('a proxy and transparent listener reachable from another network (the namespace) are warned about at start and in /healthz; the loopback admin is not', async () => {
      expect(proxy.stderr()).toMatch(/WARNING {2}the proxy listens on [0-9.]+:\d+, reachable from other machines/);
      expect(proxy.stderr()).toMatch(/WARNING {2}the transparent listener on [0-9.]+:\d+ is reachable from other machines/);
      expect(proxy.stderr()).not.toMatch(/the admin API and approval page on/);
      const res = await fetch(`${proxy.adminUrl}/healthz`);
      expect(await res.json()).toEqual({ status: 'ok', exposure: { proxy: 'network', transparent: 'network', admin: 'loopback' }, store: { kind: 'sqlite', state: 'up', since: expect.any(String) } });
    });
  });

  describe('going around scopegate', () => {
    it('a direct connection to the provider fails: no route, no name, no way to this machine\'s loopback', async () => {
      const direct = ['-sS', '--max-time', '5', '--noproxy', '*', '-k', '-H', `Authorization: ${AUTH}`, '--data', EVIL];
      const byName = await ns.exec('curl', [...direct, `https://${GUARDED}/graphql/v2`]);
      expect(byName.code).not.toBe(0);
      const toLoopback = await ns.exec('curl', [...direct, `https://127.0.0.1:${fake.port}/graphql/v2`]);
      expect(toLoopback.code).not.toBe(0);
      const toHostSide = await ns.exec('curl', [...direct, `https://${ns.hostIp}:${fake.port}/graphql/v2`]);
      expect(toHostSide.code).not.toBe(0);
      expect(volumeDeletes()).toBe(0);
      expect(fake.world.volumes.some((v) => v.id === POCKETOS.volume.pgdata)).toBe(true);
    });
  });

  describe('an agent that holds only a placeholder', () => {
    let custodian: ProxyProcess;
    let placeholder = '';
    beforeAll(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sg-netns-custody-'));
      const policy = join(dir, 'policy.yaml');
      writeFileSync(policy, custodyPolicyYaml('SG_NETNS_REAL_TOKEN'));
      const env = { SG_NETNS_REAL_TOKEN: POCKETOS.token.account };
      custodian = await startProxy({ dataDir: join(dir, 'data'), env, args: ['--policy', policy, '--listen', `${ns.hostIp}:0`, '--hold-timeout', '0', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`] });
      const created = await run(process.execPath, [CLI, 'token', 'create', '--agent', 'sandboxed', '--credential', 'railway-owner', '--environments', 'staging', '--policy', policy, '--data-dir', join(dir, 'data')], { env: { ...process.env, ...env }, timeoutMs: 15_000 });
      placeholder = created.stdout.trim();
    });
    afterAll(async () => {
      await custodian?.stop();
    });

    it('through scopegate the placeholder works (the real token is swapped in) and its ceiling holds; going direct with it achieves nothing', async () => {
      expect(placeholder).toMatch(/^[0-9a-f-]{36}$/);
      const base = ['-sS', '--max-time', '10', '--proxy', `http://${ns.hostIp}:${custodian.proxyPort}`, '--cacert', join(custodian.caDir, 'ca.pem'), '-H', `Authorization: Bearer ${placeholder}`, '-H', 'content-type: application/json'];
      fake.received.length = 0;
      const read = await ns.exec('curl', [...base, '--data', READ, `https://${GUARDED}/graphql/v2`]);
      expect(JSON.parse(read.stdout)).toEqual({ data: { me: expect.objectContaining({ id: expect.any(String) }) } });
      expect(fake.received.at(-1)).toMatchObject({ executed: true, tokenKind: 'account' });
      const evil = await ns.exec('curl', [...base, '--data', EVIL, `https://${GUARDED}/graphql/v2`]);
      expect(JSON.parse(evil.stdout).errors[0].extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'token-ceiling' });
      // around scopegate: no way out of the namespace, and the placeholder is worthless at Railway anyway
      const direct = ['-sS', '--max-time', '5', '--noproxy', '*', '-k', '-H', `Authorization: Bearer ${placeholder}`, '--data', READ];
      expect((await ns.exec('curl', [...direct, `https://${GUARDED}/graphql/v2`])).code).not.toBe(0);
      expect((await ns.exec('curl', [...direct, `https://${ns.hostIp}:${fake.port}/graphql/v2`])).code).not.toBe(0);
      const atRailway = await run('curl', [...direct, `https://127.0.0.1:${fake.port}/graphql/v2`], { timeoutMs: 10_000 });
      expect(JSON.parse(atRailway.stdout).errors?.length ?? 0).toBeGreaterThan(0);
      expect(fake.received.at(-1)).toMatchObject({ executed: false });
      expect(volumeDeletes()).toBe(0);
    });
  });
});
