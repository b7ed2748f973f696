import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { custodyPolicyYaml } from '../helpers/policies.js';
import { SKIP_POSTGRES, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { POCKETOS, pocketOsWorld, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Several replicas on one PostgreSQL store act as one scopegate (interface.md, "Several
 * replicas"): two real `scopegate start` processes, one real PostgreSQL, a fake Railway that
 * records what it executed. A hold made on one is approved on the other; an approval is used
 * once across both; a replica killed mid-wait loses nothing; the store stopped and started under
 * them fails closed and heals; a revocation holds everywhere; audit entries are written once;
 * the store's password is in no output.
 */
const GUARDED = 'backboard.railway.com';
const ACCOUNT = { authorization: `Bearer ${POCKETOS.token.account}` };
const SCRATCH_DELETE = `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`;
const ADMIN_TOKEN = randomBytes(24).toString('base64url');

let pki: TestPki;
let fake: FakeRailway;
let server: PostgresServer | undefined;
let work: string;
const outputs: (() => string)[] = [];

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  work = mkdtempSync(join(tmpdir(), 'sg-replicas-'));
  if (!SKIP_POSTGRES) server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await fake?.stop();
  await server?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Two replicas on a fresh database, sharing the CA, the store and the admin token; separate data dirs. */
async function replicas(extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ a: ProxyProcess; b: ProxyProcess; url: string; stop: () => Promise<void> }> {
  fake.world = pocketOsWorld();
  fake.received.length = 0;
  const url = await server!.createDatabase();
  const dir = mkdtempSync(join(work, 'pair-'));
  const args = ['--store', url, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, ...extra];
  const common = { caDir: join(dir, 'ca'), env: { SCOPEGATE_ADMIN_TOKEN: ADMIN_TOKEN, ...env }, args };
  // the first makes the CA and migrates the store; the second finds both
  const a = await startProxy({ ...common, dataDir: join(dir, 'a') });
  const b = await startProxy({ ...common, dataDir: join(dir, 'b') });
  for (const p of [a, b]) outputs.push(p.stdout, p.stderr);
  return { a, b, url, stop: async () => void (await Promise.all([a.stop(), b.stop()])) };
}

interface Answer {
  code: string;
  holdId?: string;
  reason?: string;
  decisionId?: string;
}

async function call(p: ProxyProcess, query: string, headers: Record<string, string> = ACCOUNT): Promise<Answer> {
  const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
  try {
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
    const body = (await res.body.json()) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };
    const err = body.errors?.[0];
    const ext = err?.extensions ?? {};
    return {
      code: String(ext['code'] ?? (err ? 'PROVIDER_ERROR' : 'FORWARDED')),
      ...(ext['holdId'] ? { holdId: String(ext['holdId']) } : {}),
      ...(ext['rule'] ? { reason: `${String(ext['rule'])}: ${err!.message}` } : err ? { reason: err.message } : {}),
      ...(res.headers['x-scopegate-decision'] ? { decisionId: String(res.headers['x-scopegate-decision']) } : {}),
    };
  } finally {
    await agent.close();
  }
}

async function admin(p: ProxyProcess, method: 'GET' | 'POST', path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${p.adminUrl}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, json: text.startsWith('{') || text.startsWith('[') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

async function pendingHoldId(p: ProxyProcess): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    const id = ((await admin(p, 'GET', '/api/holds?status=pending')).json as unknown as { id: string }[])[0]?.id;
    if (id) return id;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

const deletes = (): number => fake.received.filter((r) => r.executed && r.rootFields.includes('volumeDelete')).length;

/** The hold's audit trail, as any replica serves it: event names, oldest first. */
async function trail(p: ProxyProcess, holdId: string): Promise<string[]> {
  const events = (await admin(p, 'GET', `/api/audit?hold=${holdId}`)).json['events'] as { event: string }[];
  return events.map((e) => e.event).reverse();
}

/** Wait (at most `ms`) until `check` holds. */
async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (let i = 0; i < ms / 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe.skipIf(SKIP_POSTGRES)('two replicas on one PostgreSQL', () => {
  it('a call held on one replica is released by an approval on the other and forwarded once; its audit entries are written once', async () => {
    const { a, b, stop } = await replicas(['--hold-timeout', '20']);
    try {
      const waiting = call(a, SCRATCH_DELETE);
      const id = await pendingHoldId(b);
      expect(id).toBeDefined();
      expect(deletes()).toBe(0);
      const ok = await admin(b, 'POST', `/api/holds/${id}/approve`);
      expect(ok.status).toBe(200);
      expect(await waiting).toMatchObject({ code: 'FORWARDED' });
      expect(deletes()).toBe(1);
      expect((await admin(a, 'GET', `/api/holds/${id}`)).json).toMatchObject({ status: 'used' });
      // the forward is audited in a batch: wait for it, then every event of the hold is there once
      expect(await until(async () => (await trail(b, id!)).includes('forward'), 5000)).toBe(true);
      expect(await trail(a, id!)).toEqual(['hold', 'approve', 'use', 'forward']);
    } finally {
      await stop();
    }
  });

  it('holds verbs with --store act on the store itself: a call waiting on a replica is released by `holds approve --store`', async () => {
    const { a, url, stop } = await replicas(['--hold-timeout', '20']);
    try {
      const waiting = call(a, SCRATCH_DELETE);
      const id = await pendingHoldId(a);
      const list = await run(process.execPath, [CLI, 'holds', 'list', '--status', 'pending', '--json', '--store', url], { timeoutMs: 15_000 });
      outputs.push(() => list.stdout + list.stderr);
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as { id: string }[]).map((h) => h.id)).toEqual([id]);
      // irreversible: the approval must name its target, here as on the admin API
      const wrong = await run(process.execPath, [CLI, 'holds', 'approve', id!, '--confirm', 'pgdata', '--store', url], { timeoutMs: 15_000 });
      outputs.push(() => wrong.stdout + wrong.stderr);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/not the name of volume scratch/);
      expect((await admin(a, 'GET', `/api/holds/${id}`)).json).toMatchObject({ status: 'pending' });
      const approved = await run(process.execPath, [CLI, 'holds', 'approve', id!, '--confirm', 'scratch', '--reason', 'staging scratch', '--store', url], { timeoutMs: 15_000 });
      outputs.push(() => approved.stdout + approved.stderr);
      expect(approved.code, approved.stderr).toBe(0);
      expect(await waiting).toMatchObject({ code: 'FORWARDED' });
      expect(deletes()).toBe(1);
      const again = await run(process.execPath, [CLI, 'holds', 'deny', id!, '--store', url], { timeoutMs: 15_000 });
      outputs.push(() => again.stdout + again.stderr);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/already used/);
      expect(await until(async () => (await trail(a, id!)).includes('forward'), 5000)).toBe(true);
      expect((await admin(a, 'GET', `/api/audit?hold=${id}`)).json['events']).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'approve', actor: 'cli', reason: 'staging scratch' })]));
    } finally {
      await stop();
    }
  });

  it('identical calls arriving at once through both replicas: one hold, every other call joins it', async () => {
    const { a, b, stop } = await replicas(['--hold-timeout', '0']);
    try {
      const answers = await Promise.all([a, b, a, b, a, b].map((p) => call(p, SCRATCH_DELETE)));
      expect(answers.map((x) => x.code)).toEqual(Array(6).fill('SCOPEGATE_HOLD_PENDING'));
      const ids = new Set(answers.map((x) => x.holdId));
      expect(ids.size, `hold ids: ${[...ids].join(', ')}`).toBe(1);
      const pending = (await admin(b, 'GET', '/api/holds?status=pending')).json as unknown as { id: string }[];
      expect(pending.map((h) => h.id)).toEqual([...ids]);
      // one hold made, five joined, each audited once
      const events = ((await admin(a, 'GET', `/api/audit?hold=${[...ids][0]}`)).json['events'] as { event: string; reason: string }[]).filter((e) => e.event === 'hold');
      expect(events).toHaveLength(6);
      expect(events.filter((e) => e.reason.startsWith('joined '))).toHaveLength(5);
      expect(deletes()).toBe(0);
    } finally {
      await stop();
    }
  });

  it('concurrent identical retries through both replicas after one approval: exactly one forward', async () => {
    const { a, b, stop } = await replicas(['--hold-timeout', '0']);
    try {
      const { code, holdId } = await call(a, SCRATCH_DELETE);
      expect(code).toBe('SCOPEGATE_HOLD_PENDING');
      const approvals = await Promise.all([admin(a, 'POST', `/api/holds/${holdId}/approve`), admin(b, 'POST', `/api/holds/${holdId}/approve`)]);
      expect(approvals.map((x) => x.status).sort()).toEqual([200, 409]);
      const retries = await Promise.all([a, b, a, b, a, b].map((p) => call(p, SCRATCH_DELETE)));
      expect(retries.filter((r) => r.code === 'FORWARDED')).toHaveLength(1);
      expect(retries.filter((r) => r.code !== 'FORWARDED').every((r) => r.code === 'SCOPEGATE_HOLD_PENDING')).toBe(true);
      expect(deletes()).toBe(1);
      expect(await until(async () => (await trail(b, holdId!)).includes('forward'), 5000)).toBe(true);
      expect((await trail(b, holdId!)).filter((e) => e === 'use' || e === 'forward')).toEqual(['use', 'forward']);
    } finally {
      await stop();
    }
  });

  it('kill -9 of the replica a call waits on: the hold survives on the store; approved on the other, the retry through it goes once', async () => {
    const { a, b, stop } = await replicas(['--hold-timeout', '20']);
    try {
      const waiting = call(a, SCRATCH_DELETE).catch((e: Error) => ({ code: `connection lost: ${e.message}` }));
      const id = await pendingHoldId(b);
      expect(id).toBeDefined();
      process.kill(a.pid, 'SIGKILL');
      await a.exited;
      expect((await waiting).code).toMatch(/^connection lost/);
      expect((await admin(b, 'GET', `/api/holds/${id}`)).json).toMatchObject({ status: 'pending' });
      expect(deletes()).toBe(0);
      expect((await admin(b, 'POST', `/api/holds/${id}/approve`)).status).toBe(200);
      expect(await call(b, SCRATCH_DELETE)).toMatchObject({ code: 'FORWARDED' });
      expect((await admin(b, 'GET', `/api/holds/${id}`)).json).toMatchObject({ status: 'used' });
      expect(deletes()).toBe(1);
    } finally {
      await stop();
    }
  });

  it('PostgreSQL stopped under running replicas: holds fail closed, reads go on, /healthz stays 200 and says so; started again, it heals without a restart', async () => {
    const { a, b, stop } = await replicas(['--hold-timeout', '0']);
    let deniedWhileDown: string | undefined;
    try {
      expect((await call(a, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      await server!.stop();
      try {
        // the call that needs the store is refused with the reason, not forwarded, not hung
        const refused = await call(a, SCRATCH_DELETE);
        expect(refused.code).toBe('SCOPEGATE_UNJUDGEABLE');
        expect(refused.reason).toMatch(/store/);
        // an allowed change must be audited: refused too, once the replica has seen the store go
        expect(await until(async () => ((await admin(b, 'GET', '/healthz')).json['store'] as { state: string }).state === 'down', 10_000)).toBe(true);
        const health = await admin(b, 'GET', '/healthz');
        expect(health.status).toBe(200);
        expect(health.json).toMatchObject({ status: 'ok', store: { kind: 'postgres', state: 'down' } });
        const change = await call(b, `mutation { variableUpsert(input: { projectId: "${POCKETOS.projectId}", environmentId: "${POCKETOS.env.staging}", serviceId: "${POCKETOS.svc.api}", name: "LOG_LEVEL", value: "debug" }) }`);
        expect(change.code).toBe('SCOPEGATE_UNJUDGEABLE');
        // a read needs no store; a policy deny still denies (its audit entry waits for the store)
        expect((await call(b, '{ me { id } }')).code).toBe('FORWARDED');
        const denied = await call(a, `mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
        expect(denied.code).toBe('SCOPEGATE_DENIED');
        deniedWhileDown = denied.decisionId;
        expect((await admin(b, 'GET', '/metrics')).json['text']).toMatch(/^scopegate_store_up 0$/m);
        // the admin API says the store is down, and changes nothing
        expect((await admin(b, 'GET', '/api/holds')).status).toBe(503);
        expect(deletes()).toBe(0);
      } finally {
        await server!.start();
      }
      // healed within the contract's 10 s (given room here: tests assert no timing)
      for (const p of [a, b]) expect(await until(async () => ((await admin(p, 'GET', '/healthz')).json['store'] as { state: string }).state === 'up', 20_000)).toBe(true);
      expect((await call(b, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      expect((await call(a, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      expect((await admin(a, 'GET', '/metrics')).json['text']).toMatch(/^scopegate_store_up 1$/m);
      expect(deletes()).toBe(0);
      // the deny decided while the store was down is in the audit trail now, once
      expect(deniedWhileDown).toBeDefined();
      const denyEvents = async () => ((await admin(b, 'GET', '/api/audit?limit=1000')).json['events'] as { decisionId: string; event: string }[]).filter((e) => e.decisionId === deniedWhileDown);
      expect(await until(async () => (await denyEvents()).length > 0, 10_000)).toBe(true);
      expect((await denyEvents()).map((e) => e.event)).toEqual(['deny']);
    } finally {
      await stop();
    }
  });

  it('PostgreSQL hung (every server process stopped, connections open): a call that needs the store is answered, refused, not left waiting; thawed, it heals', async () => {
    const { a, b, stop } = await replicas(['--hold-timeout', '0']);
    try {
      expect((await call(a, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      server!.freeze();
      try {
        // answered (the test's own timeout would catch a hang): the store's 2 s bound, then refused
        const refused = await call(a, SCRATCH_DELETE);
        expect(refused.code).toBe('SCOPEGATE_UNJUDGEABLE');
        expect(refused.reason).toMatch(/store/);
        expect(((await admin(a, 'GET', '/healthz')).json['store'] as { state: string }).state).toBe('down');
        // known down: the next one is refused at once rather than after another timeout
        expect((await call(a, SCRATCH_DELETE)).code).toBe('SCOPEGATE_UNJUDGEABLE');
        expect((await call(b, '{ me { id } }')).code).toBe('FORWARDED');
      } finally {
        server!.thaw();
      }
      for (const p of [a, b]) expect(await until(async () => ((await admin(p, 'GET', '/healthz')).json['store'] as { state: string }).state === 'up', 20_000)).toBe(true);
      expect((await call(a, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(deletes()).toBe(0);
    } finally {
      await stop();
    }
  });

  it('a placeholder minted against the store works on both replicas; revoked through the CLI, both refuse it at once', async () => {
    const policy = join(work, 'custody.yaml');
    writeFileSync(policy, custodyPolicyYaml('SG_REPLICA_REAL_TOKEN'));
    const env = { SG_REPLICA_REAL_TOKEN: POCKETOS.token.account };
    const { a, b, url, stop } = await replicas(['--policy', policy], env);
    const sg = async (args: string[]) => {
      const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeoutMs: 15_000 });
      outputs.push(() => r.stderr);
      return r;
    };
    try {
      const created = await sg(['token', 'create', '--agent', 'ci-bot', '--credential', 'railway-owner', '--policy', policy, '--store', url]);
      expect(created.code, created.stderr).toBe(0);
      const token = created.stdout.trim();
      const bearer = { authorization: `Bearer ${token}` };
      expect((await call(a, '{ me { id } }', bearer)).code).toBe('FORWARDED');
      expect((await call(b, '{ me { id } }', bearer)).code).toBe('FORWARDED');
      const list = await sg(['token', 'list', '--json', '--store', url]);
      outputs.push(() => list.stdout);
      const [p] = JSON.parse(list.stdout) as { id: string; status: string; lastUsedAt: string | null }[];
      expect(p).toMatchObject({ status: 'live' });
      const revoked = await sg(['token', 'revoke', p!.id, '--store', url]);
      expect(revoked.code, revoked.stderr).toBe(0);
      for (const r of [a, b]) expect((await call(r, '{ me { id } }', bearer)).reason).toMatch(/^token-revoked/);
    } finally {
      await stop();
    }
  });

  it('a store written by a newer scopegate: start exits with the reason (and no password)', async () => {
    const url = await server!.createDatabase();
    const first = await startProxy({ args: ['--store', url], env: { SCOPEGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
    outputs.push(first.stdout, first.stderr);
    await first.stop();
    await server!.sql('INSERT INTO scopegate_schema (version, applied_at) VALUES (99, 0)', [], new URL(url).pathname.slice(1));
    const dir = mkdtempSync(join(work, 'newer-'));
    const r = await run(process.execPath, [CLI, 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-dir', join(dir, 'ca'), '--data-dir', join(dir, 'data')], { env: { ...process.env, SCOPEGATE_STORE: url, SCOPEGATE_ADMIN_TOKEN: ADMIN_TOKEN }, timeoutMs: 20_000 });
    outputs.push(() => r.stdout + r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/schema version 99, newer than this scopegate knows \(\d+\)/);
    expect(r.stderr).toContain(`postgres://${server!.user}:***@127.0.0.1:${server!.port}/`);
  });

  it('the store password is in no output of any replica or CLI run above', () => {
    expect(outputs.length).toBeGreaterThan(10);
    const all = outputs.map((o) => o()).join('\n');
    expect(all).toContain('***@127.0.0.1');
    for (const form of [server!.password, encodeURIComponent(server!.password), Buffer.from(server!.password).toString('base64')]) expect(all).not.toContain(form);
  });
});
