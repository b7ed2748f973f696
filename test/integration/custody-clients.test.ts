import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, ROOT, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Issue 17: real Railway clients from the npm registry work through scopegate unchanged when they are
 * configured with a placeholder from `scopegate token create` and the environment `scopegate env`
 * prints: Railway's official TypeScript SDK (npm `railway`) in a child Node process, and a Railway MCP
 * tool server (`@jasontanswe/railway-mcp`) started over stdio by the MCP SDK's client with the
 * variables in its `env` block (stdio servers get a stripped environment). scopegate swaps the
 * real account token in; the same placeholder sent straight to the fake Railway is refused there.
 */
const GUARDED = 'backboard.railway.com';
const REAL = POCKETOS.token.account;
const SDK_SCRIPT = join(ROOT, 'test', 'fixtures', 'railway-clients', 'sdk-sandboxes.mjs');
const MCP_SERVER = join(dirname(createRequire(import.meta.url).resolve('@jasontanswe/railway-mcp/package.json')), 'build', 'index.js');
let pki: TestPki;
let fake: FakeRailway;
let proxy: ProxyProcess | undefined;
let work: string;
let policy: string;
let placeholder: string;
/** What `scopegate env` told the agent to set (dotenv form), proxy and CA variables only. */
let agentEnv: Record<string, string>;
const env = { SG_CUSTODY_REAL_TOKEN: REAL };
/** A child's environment: what any process has, nothing of this test process's own. */
const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir() };

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED, '127.0.0.1']);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  work = mkdtempSync(join(tmpdir(), 'sg-custody-clients-'));
  policy = join(work, 'policy.yaml');
  writeFileSync(policy, custodyPolicyYaml('SG_CUSTODY_REAL_TOKEN'));
  proxy = await startProxy({ dataDir: join(work, 'data'), caDir: join(work, 'ca'), env, args: ['--policy', policy, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--hold-timeout', '0'] });
  const created = await run(process.execPath, [CLI, 'token', 'create', '--agent', 'client-bot', '--credential', 'railway-owner', '--policy', policy, '--data-dir', join(work, 'data')], { env, timeoutMs: 15_000 });
  expect(created.code, created.stderr).toBe(0);
  placeholder = created.stdout.trim();
  expect(placeholder).toMatch(/^[0-9a-f-]{36}$/);
  const printed = await run(process.execPath, [CLI, 'env', '--shell', 'dotenv', '--listen', `127.0.0.1:${proxy.proxyPort}`, '--ca-dir', proxy.caDir], { timeoutMs: 15_000 });
  expect(printed.code, printed.stderr).toBe(0);
  agentEnv = Object.fromEntries(
    printed.stdout.split('\n').filter((l) => /^[A-Za-z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  expect(agentEnv).toMatchObject({ HTTPS_PROXY: proxy.proxyUrl, NODE_OPTIONS: expect.stringContaining('preload.js'), NODE_EXTRA_CA_CERTS: join(proxy.caDir, 'ca.pem') });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await fake?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface SdkOutcome { ok: boolean; sandboxes?: unknown[]; name?: string; error?: string; status?: number | null }
async function sdk(extra: Record<string, string>): Promise<SdkOutcome> {
  const r = await run(process.execPath, [SDK_SCRIPT], { inheritEnv: false, env: { ...base, RAILWAY_API_TOKEN: placeholder, RAILWAY_ENVIRONMENT_ID: POCKETOS.env.staging, ...extra }, timeoutMs: 20_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as SdkOutcome;
}

describe('real Railway clients with a placeholder', () => {
  it("Railway's TypeScript SDK lists an environment's sandboxes through scopegate; the fake saw the real account token", async () => {
    fake.received.length = 0;
    const out = await sdk(agentEnv);
    expect(out).toEqual({ ok: true, sandboxes: [] });
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]).toMatchObject({ path: '/graphql/v2', operationName: 'RailwaySandboxes', rootFields: ['sandboxes'], variables: { environmentId: POCKETOS.env.staging }, tokenKind: 'account', executed: true });
  }, 30_000);

  it('an MCP tool server over stdio, with the placeholder and the proxy variables in its env block, answers a read through scopegate', async () => {
    fake.received.length = 0;
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_SERVER],
      // the SDK passes the server only HOME, PATH, … plus this block: the proxy and CA variables go here
      env: { RAILWAY_API_TOKEN: placeholder, HTTPS_PROXY: agentEnv.HTTPS_PROXY!, NO_PROXY: agentEnv.NO_PROXY!, NODE_OPTIONS: agentEnv.NODE_OPTIONS!, NODE_EXTRA_CA_CERTS: agentEnv.NODE_EXTRA_CA_CERTS! },
      stderr: 'pipe',
    });
    let serverErr = '';
    transport.stderr?.on('data', (c: Buffer) => { serverErr += c.toString(); });
    const client = new Client({ name: 'scopegate-test', version: '0.0.0' });
    try {
      await client.connect(transport);
      // at start-up the server checks its token with `{ projects { … } }`; a broken read there would drop it
      expect(fake.received.map((r) => [r.rootFields, r.tokenKind, r.executed])).toEqual([[['projects'], 'account', true]]);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('project_environments');
      const res = await client.callTool({ name: 'project_environments', arguments: { projectId: POCKETOS.projectId } });
      const text = (res.content as { type: string; text?: string }[]).map((c) => c.text ?? '').join('\n');
      expect(res.isError ?? false, `${text}\n${serverErr}`).toBe(false);
      expect(text).toContain(`production (ID: ${POCKETOS.env.prod})`);
      expect(text).toContain(`staging (ID: ${POCKETOS.env.staging})`);
      expect(fake.received.at(-1)).toMatchObject({ operationName: 'environments', rootFields: ['environments'], variables: { projectId: POCKETOS.projectId }, tokenKind: 'account', executed: true });
    } finally {
      await client.close();
    }
  }, 30_000);

  it('the same placeholder sent straight to the fake Railway (no proxy) is refused there', async () => {
    fake.received.length = 0;
    const out = await sdk({ RAILWAY_GRAPHQL_ENDPOINT: `https://127.0.0.1:${fake.port}/graphql/v2`, NODE_EXTRA_CA_CERTS: pki.caPath });
    expect(out.ok).toBe(false);
    expect(out.name).toBe('RailwayGraphQLError');
    expect(out.error).toMatch(/not authorized/i);
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]).toMatchObject({ rootFields: ['sandboxes'], tokenKind: 'unknown', executed: false });
  }, 30_000);
});
