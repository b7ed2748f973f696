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
import { withShippedRules } from '../helpers/policies.js';
import { ACME, acmeWorld, startFakeNeon, type FakeNeon } from '../fixtures/fake-neon/index.js';

/**
 * Real Neon clients from the npm registry, routed as users route them on Node 20 (the variables
 * `scopegate env` prints), holding a placeholder from `scopegate token create`: Neon's TypeScript
 * client (@neondatabase/api-client), neonctl, and Neon's MCP server driven by an MCP client. A read
 * works; a destructive call is judged with the live scope; the fake Neon sees the real key only.
 */
const HOST = 'console.neon.tech';
const API_CLIENT = join(ROOT, 'test', 'fixtures', 'neon-clients', 'api-client.mjs');
const NEONCTL = join(dirname(createRequire(import.meta.url).resolve('neonctl/package.json')), 'bin', 'cli.js');
const MCP_SERVER = join(dirname(createRequire(import.meta.url).resolve('@neondatabase/mcp-server-neon/package.json')), 'dist', 'index.js');
let pki: TestPki;
let fake: FakeNeon;
let proxy: ProxyProcess | undefined;
let work: string;
let placeholder: string;
let agentEnv: Record<string, string>;
const env = { SG_NEON_REAL_KEY: ACME.key };
const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '' };

beforeAll(async () => {
  pki = makeTestPki('neon-clients', [HOST, '127.0.0.1']);
  fake = await startFakeNeon({ cert: pki.cert, key: pki.key });
  work = mkdtempSync(join(tmpdir(), 'sg-neon-clients-'));
  base.HOME = work;
  const policy = join(work, 'policy.yaml');
  writeFileSync(policy, withShippedRules(['version: 1', 'providers:', '  neon: { hosts: [console.neon.tech] }', 'credentials:', '  neon-owner:', '    provider: neon', '    secret_env: SG_NEON_REAL_KEY']));
  proxy = await startProxy({ dataDir: join(work, 'data'), caDir: join(work, 'ca'), env, args: ['--policy', policy, '--upstream-ca', pki.caPath, '--route', `${HOST}=127.0.0.1:${fake.port}`, '--hold-timeout', '0'] });
  const created = await run(process.execPath, [CLI, 'token', 'create', '--agent', 'cleanup-bot', '--credential', 'neon-owner', '--policy', policy, '--data-dir', join(work, 'data')], { env, timeoutMs: 15_000 });
  expect(created.code, created.stderr).toBe(0);
  placeholder = created.stdout.trim();
  expect(placeholder).toMatch(/^napi_[a-z0-9]{60}$/);
  const printed = await run(process.execPath, [CLI, 'env', '--shell', 'dotenv', '--listen', `127.0.0.1:${proxy.proxyPort}`, '--ca-dir', proxy.caDir], { timeoutMs: 15_000 });
  expect(printed.code, printed.stderr).toBe(0);
  agentEnv = Object.fromEntries(printed.stdout.split('\n').filter((l) => /^[A-Za-z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await fake?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Outcome { ok: boolean; status: number | null; data: Record<string, unknown> | null; error?: string }
async function apiClient(...args: string[]): Promise<Outcome> {
  const r = await run(process.execPath, [API_CLIENT, ...args], { inheritEnv: false, env: { ...base, ...agentEnv, NEON_API_KEY: placeholder }, timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Outcome;
}
const neonctl = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  run(process.execPath, [NEONCTL, ...args, '--output', 'json', '--no-analytics', '--no-color', '--config-dir', join(work, 'neonctl')], { inheritEnv: false, env: { ...base, ...agentEnv, NEON_API_KEY: placeholder, CI: 'true' }, timeoutMs: 30_000 });

// each call spawns a real client process: on a loaded 2-core machine one takes seconds
describe("Neon's TypeScript client (@neondatabase/api-client)", { timeout: 90_000 }, () => {
  it('lists branches through scopegate; the fake saw the real key', async () => {
    fake.world = acmeWorld();
    const out = await apiClient('list-branches', ACME.project);
    expect(out, out.error).toMatchObject({ ok: true, status: 200 });
    expect((out.data!['branches'] as unknown[]).length).toBe(5);
    expect(fake.received.at(-1)).toMatchObject({ operation: 'listProjectBranches', auth: 'bearer:1', executed: true });
  });
  it("deleting main is denied: the client gets 403 with scopegate's message and the live scope", async () => {
    const out = await apiClient('delete-branch', ACME.project, ACME.branch.main);
    expect(out).toMatchObject({ ok: false, status: 403, data: { code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected' } });
    expect(String(out.data!['message'])).toMatch(/main/);
    expect(fake.executed('deleteProjectBranch')).toBe(0);
  });
  it('restoring main to yesterday is denied; an idle preview branch delete is held (409)', async () => {
    const restore = await apiClient('restore-branch', ACME.project, ACME.branch.main, ACME.branch.main, new Date(Date.now() - 86_400_000).toISOString());
    expect(restore).toMatchObject({ status: 403, data: { code: 'SCOPEGATE_DENIED' } });
    const held = await apiClient('delete-branch', ACME.project, ACME.branch.pr41);
    expect(held).toMatchObject({ status: 409, data: { code: 'SCOPEGATE_HOLD_PENDING', rule: 'irreversible-destruction' } });
    expect(fake.executed('restoreProjectBranch') + fake.executed('deleteProjectBranch')).toBe(0);
  });
});

describe('neonctl', { timeout: 90_000 }, () => {
  it('lists branches through scopegate', async () => {
    fake.world = acmeWorld();
    const r = await neonctl('branches', 'list', '--project-id', ACME.project);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(ACME.branch.main);
    expect(fake.received.at(-1)).toMatchObject({ auth: 'bearer:1', executed: true });
  });
  it("deleting main is refused, and neonctl shows scopegate's message", async () => {
    // as users call it: by name, which neonctl resolves with a read first
    const r = await neonctl('branches', 'delete', 'main', '--project-id', ACME.project);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/scopegate denied deleteProjectBranch/);
    expect(fake.executed('deleteProjectBranch')).toBe(0);
  });
});

describe("Neon's MCP server (@neondatabase/mcp-server-neon) driven by an MCP client", () => {
  // the server's axios (1.7, pinned in package.json overrides as the published server resolved it)
  // reads HTTPS_PROXY itself and sends https:// URLs to the proxy in absolute form, in clear, with
  // or without the preload: scopegate judges them exactly like intercepted requests
  it.each([
    ['every variable scopegate env prints', 'absolute-form', true],
    ['HTTPS_PROXY and NODE_EXTRA_CA_CERTS only (absolute-form https://)', 'absolute-form', false],
  ] as const)('a read tool works and a destructive tool is judged, with the placeholder as its key: %s', async (_label, via, preload) => {
    fake.world = acmeWorld();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_SERVER, 'start', placeholder],
      env: { HTTPS_PROXY: agentEnv['HTTPS_PROXY']!, NO_PROXY: agentEnv['NO_PROXY'] ?? '', NODE_EXTRA_CA_CERTS: agentEnv['NODE_EXTRA_CA_CERTS']!, ...(preload ? { NODE_OPTIONS: agentEnv['NODE_OPTIONS']! } : {}) },
      stderr: 'pipe',
    });
    let serverErr = '';
    transport.stderr?.on('data', (c: Buffer) => {
      serverErr += c.toString();
    });
    const client = new Client({ name: 'scopegate-test', version: '0.0.0' });
    try {
      await client.connect(transport);
      const text = (res: Awaited<ReturnType<typeof client.callTool>>): string => (res.content as { text?: string }[]).map((c) => c.text ?? '').join('\n');
      const described = await client.callTool({ name: 'describe_project', arguments: { params: { projectId: ACME.project } } });
      const listed = await client.callTool({ name: 'list_projects', arguments: { params: {} } });
      expect(listed.isError ?? false, `${text(listed)}\n${serverErr}`).toBe(false);
      expect(text(listed)).toContain(ACME.project);
      expect(described.isError ?? false, text(described)).toBe(false);
      expect(text(described)).toContain('preview/pr-41');
      const del = await client.callTool({ name: 'delete_branch', arguments: { params: { projectId: ACME.project, branchId: ACME.branch.main } } });
      expect(del.isError, text(del)).toBe(true);
      expect(text(del)).toMatch(/403|scopegate/i);
      expect(fake.executed('deleteProjectBranch')).toBe(0);
      expect(fake.received.some((r) => r.auth === 'unknown')).toBe(false);
      const line = await proxy!.waitForLog((l) => l['operation'] === 'deleteProjectBranch' && l['via'] === via);
      expect(line['decision']).toBe('deny');
    } finally {
      await client.close();
    }
  }, 90_000);
});
