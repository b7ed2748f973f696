import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { expectNowhere } from '../helpers/secrets.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * `scopegate mcp` with real processes (issue 20, item 2): the SDK's own Client over stdio runs
 * `node dist/cli.js mcp` against a running `scopegate start`, which guards a fake Railway. The MCP
 * server acts as the agent with its placeholder; its answers come from the live scope, and
 * nothing it asks executes anything.
 */
const GUARDED = 'backboard.railway.com';
const REAL = POCKETOS.token.account;
const env = { SG_MCP_REAL_TOKEN: REAL };
let pki: TestPki;
let fake: FakeRailway;
let work: string;
let proxy: ProxyProcess;
let placeholder: string;
const outputs: string[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  work = mkdtempSync(join(tmpdir(), 'sg-mcp-'));
  const policy = join(work, 'policy.yaml');
  writeFileSync(policy, custodyPolicyYaml('SG_MCP_REAL_TOKEN'));
  proxy = await startProxy({ dataDir: join(work, 'data'), caDir: join(work, 'ca'), env, args: ['--policy', policy, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--hold-timeout', '0'] });
  const created = await run(process.execPath, [CLI, 'token', 'create', '--agent', 'ci-bot', '--credential', 'railway-owner', '--policy', policy, '--data-dir', join(work, 'data')], { env: { ...process.env, ...env }, timeoutMs: 15_000 });
  expect(created.code, created.stderr).toBe(0);
  placeholder = created.stdout.trim();
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  if (proxy) {
    outputs.push(proxy.stdout(), proxy.stderr());
    await proxy.stop();
  }
  await fake?.stop();
  // the placeholder and the real token: never in the proxy's output or its files
  if (work) expectNowhere(join(work, 'data'), [REAL, placeholder], outputs);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** An MCP client running `scopegate mcp` as a child process, with only the environment given (plus PATH). */
async function mcp(args: string[], agentEnv: Record<string, string>): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...args], env: { PATH: process.env['PATH'] ?? '', ...agentEnv }, stderr: 'pipe' });
  let err = '';
  transport.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const client = new Client({ name: 'scopegate-test', version: '0.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, stderr: () => err };
}

type ToolAnswer = { content: { type: string; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean };
const call = async (client: Client, name: string, args: Record<string, unknown>): Promise<ToolAnswer> => (await client.callTool({ name, arguments: args })) as ToolAnswer;
const text = (a: ToolAnswer): string => a.content.map((c) => c.text).join('\n');

async function pendingHolds(): Promise<unknown[]> {
  const res = await request(`${proxy.adminUrl}/api/holds`, { headers: { authorization: `Bearer ${proxy.adminToken}` } });
  return (await res.body.json()) as unknown[];
}

describe('scopegate mcp, with the SDK\'s client over stdio', () => {
  it('lists check_call, scope_of and hold_status with their schemas, and descriptions that say when to use them (provider and hosts from the adapters)', async () => {
    const { client } = await mcp(['--proxy', proxy.proxyUrl], { SCOPEGATE_TOKEN: placeholder });
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(['check_call', 'hold_status', 'scope_of']);
    const check = byName.get('check_call')!;
    expect(check.description).toMatch(/Before any destructive or irreversible call on railway \(backboard\.railway\.com, backboard\.railway\.app\)/);
    expect(check.description).toMatch(/\/graphql\/v2/);
    expect(check.inputSchema.required).toEqual(expect.arrayContaining(['host', 'path']));
    expect(Object.keys(check.inputSchema.properties ?? {})).toEqual(expect.arrayContaining(['host', 'path', 'method', 'headers', 'body']));
    expect(check.outputSchema?.properties).toHaveProperty('decision');
    expect(Object.keys(byName.get('scope_of')!.inputSchema.properties ?? {}).sort()).toEqual(['id', 'provider', 'type']);
    expect(byName.get('hold_status')!.inputSchema.required).toEqual(['holdId']);
    expect(client.getInstructions()).toMatch(/check_call/);
  });

  it('check_call on the incident call: deny, with the live scope; nothing executes at the fake, no hold appears', async () => {
    const { client } = await mcp(['--proxy', proxy.proxyUrl], { SCOPEGATE_TOKEN: placeholder });
    fake.received.length = 0;
    const a = await call(client, 'check_call', { host: GUARDED, path: '/graphql/v2', body: { query: 'mutation($id: String!) { volumeDelete(volumeId: $id) }', variables: { id: POCKETOS.volume.pgdata } } });
    expect(a.isError).toBeFalsy();
    expect(a.structuredContent).toMatchObject({ decision: 'deny', rule: 'never-destroy-protected', agent: 'ci-bot' });
    const op = (a.structuredContent!['operations'] as { scope: { environments: string[]; shared: boolean } }[])[0]!;
    expect([...op.scope.environments].sort()).toEqual(['production', 'staging']);
    expect(op.scope.shared).toBe(true);
    expect(text(a)).toMatch(/would deny volumeDelete on volume vol-7f3a9d: .*bound to environments .*production/);
    expect(fake.received.some((r) => r.rootFields.includes('volumeDelete'))).toBe(false);
    expect(await pendingHolds()).toEqual([]);
  });

  it('scope_of: the volume shared with production, and the staging-only one', async () => {
    const { client } = await mcp(['--proxy', proxy.proxyUrl], { SCOPEGATE_TOKEN: placeholder });
    const shared = await call(client, 'scope_of', { provider: 'railway', type: 'volume', id: POCKETOS.volume.pgdata });
    expect(shared.structuredContent).toMatchObject({ agent: 'ci-bot', scope: { status: 'resolved', shared: true } });
    expect(text(shared)).toMatch(/volume vol-7f3a9d: .*bound to environments/);
    const only = await call(client, 'scope_of', { provider: 'railway', type: 'volume', id: POCKETOS.volume.scratch });
    expect(only.structuredContent).toMatchObject({ scope: { status: 'resolved', environments: ['staging'], shared: false } });
  });

  it('hold_status of a real hold: pending, then approved (with what to do next)', async () => {
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    let holdId: string;
    try {
      const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${placeholder}` }, body: JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }` }) });
      const body = (await res.body.json()) as { errors: { message: string; extensions: { code: string; holdId: string } }[] };
      expect(body.errors[0]!.extensions.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(body.errors[0]!.message).toMatch(/check_call tool of `scopegate mcp`/);
      holdId = body.errors[0]!.extensions.holdId;
    } finally {
      await agent.close();
    }
    const { client } = await mcp(['--proxy', proxy.proxyUrl], { SCOPEGATE_TOKEN: placeholder });
    const pending = await call(client, 'hold_status', { holdId });
    expect(pending.structuredContent).toMatchObject({ id: holdId, status: 'pending', operation: 'volumeDelete' });
    expect(text(pending)).toMatch(/is pending: waiting for a person/);
    const approve = await request(`${proxy.adminUrl}/api/holds/${holdId}/approve`, { method: 'POST', headers: { authorization: `Bearer ${proxy.adminToken}`, 'content-type': 'application/json' }, body: '{}' });
    expect(approve.statusCode).toBe(200);
    await approve.body.dump();
    const approved = await call(client, 'hold_status', { holdId });
    expect(approved.structuredContent).toMatchObject({ status: 'approved' });
    expect(text(approved)).toMatch(/make the identical call again .* goes through once/);
    // someone else's MCP server (anonymous: no token) does not see it
    const { client: stranger } = await mcp(['--proxy', proxy.proxyUrl], {});
    const hidden = await call(stranger, 'hold_status', { holdId });
    expect(hidden.isError).toBe(true);
    expect(text(hidden)).toMatch(/404: agent anonymous has no hold/);
  });

  it('the provider\'s own variable stands in for SCOPEGATE_TOKEN (RAILWAY_API_TOKEN, as the Railway tools read it)', async () => {
    const { client } = await mcp(['--proxy', proxy.proxyUrl], { RAILWAY_API_TOKEN: placeholder });
    const a = await call(client, 'scope_of', { provider: 'railway', type: 'volume', id: POCKETOS.volume.scratch });
    expect(a.structuredContent).toMatchObject({ agent: 'ci-bot', scope: { environments: ['staging'] } });
  });

  it('bad input comes back as a tool error that says what to send', async () => {
    const { client } = await mcp(['--proxy', proxy.proxyUrl], { SCOPEGATE_TOKEN: placeholder });
    const a = await call(client, 'check_call', { host: 'example.com', path: '/', body: {} });
    expect(a.isError).toBe(true);
    expect(text(a)).toMatch(/400: example\.com is not guarded by this policy.*guarded hosts are backboard\.railway\.com/);
  });
});

describe('scopegate mcp when scopegate is not there', () => {
  it('nothing listening: a clear tool error, and the server stays up for the next call', async () => {
    // a port that was free a moment ago: nothing listens on it
    const free = await new Promise<number>((resolve) => {
      const s = createNetServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const { client, stderr } = await mcp(['--proxy', `http://127.0.0.1:${free}`], { SCOPEGATE_TOKEN: placeholder });
    const a = await call(client, 'check_call', { host: GUARDED, path: '/graphql/v2', body: { query: '{ me { id } }' } });
    expect(a.isError).toBe(true);
    expect(text(a)).toMatch(new RegExp(`scopegate is not answering at http://127\\.0\\.0\\.1:${free} \\(nothing is listening there\\): start it with \`scopegate start\`, or give \`scopegate mcp --proxy URL\``));
    // still alive: it answers the next request
    expect((await client.listTools()).tools.length).toBe(3);
    expect(stderr()).not.toContain(placeholder);
  });

  it('the wrong address (the admin API, not the proxy): said so, not a crash', async () => {
    const { client } = await mcp(['--proxy', proxy.adminUrl], { SCOPEGATE_TOKEN: placeholder });
    const a = await call(client, 'hold_status', { holdId: 'H-x-y' });
    expect(a.isError).toBe(true);
    expect(text(a)).toMatch(/is not scopegate \(no X-Scopegate-Decision header\): give `scopegate mcp --proxy URL` the address scopegate listens on/);
  });

  it('a --proxy that is not an http URL is bad usage (exit 2) before any protocol starts', async () => {
    const r = await run(process.execPath, [CLI, 'mcp', '--proxy', 'ftp://x/y'], { timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--proxy "ftp:\/\/x\/y" must be http:\/\/HOST:PORT/);
    const help = await run(process.execPath, [CLI, 'mcp', '--help'], { timeoutMs: 15_000 });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/check_call/);
    expect(help.stdout).toMatch(/RAILWAY_API_TOKEN, RAILWAY_TOKEN/);
  });
});
