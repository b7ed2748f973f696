import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { CLI, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';
import { POCKETOS, pocketOsWorld, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Holds and approvals: a person confirms, nothing is lost, nothing slips through — through the
 * real proxy process, the real admin API and a fake Railway that records what it executed.
 */
const GUARDED = 'backboard.railway.com';
const ACCOUNT = { authorization: `Bearer ${POCKETOS.token.account}` };
const SCRATCH_DELETE = `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`;

let pki: TestPki;
let fake: FakeRailway;

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
});
afterAll(async () => {
  await fake?.stop();
});
afterEach(() => {
  fake.world = pocketOsWorld();
  fake.setMode('normal');
  fake.received.length = 0;
});

const proxyArgs = (...extra: string[]) => ['--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, ...extra];

interface Answer {
  status: number;
  code: string;
  holdId?: string;
  message?: string;
  body: Record<string, unknown>;
}

async function call(p: ProxyProcess, query: string, headers: Record<string, string> = ACCOUNT, signal?: AbortSignal, variables?: Record<string, unknown>, path = '/graphql/v2'): Promise<Answer> {
  const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
  try {
    const res = await request(`https://${GUARDED}${path}`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, ...(variables ? { variables } : {}) }), ...(signal ? { signal } : {}) });
    const body = (await res.body.json()) as Record<string, unknown>;
    const err = (body['errors'] as { message: string; extensions?: Record<string, unknown> }[] | undefined)?.[0];
    return { status: res.statusCode, code: String(err?.extensions?.['code'] ?? (err ? 'PROVIDER_ERROR' : 'FORWARDED')), ...(err?.extensions?.['holdId'] ? { holdId: String(err.extensions['holdId']) } : {}), ...(err ? { message: err.message } : {}), body };
  } finally {
    await agent.close();
  }
}

async function admin(p: ProxyProcess, method: 'GET' | 'POST', path: string, body?: unknown, token: string | null = p.adminToken): Promise<{ status: number; json: Record<string, unknown> & { length?: number }; headers: Record<string, unknown> }> {
  const res = await request(`${p.adminUrl}${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

/** The newest pending hold's id, once the waiting call has been judged (at most 5 s). */
async function pendingHoldId(p: ProxyProcess): Promise<string | undefined> {
  for (let i = 0; i < 50; i++) {
    const id = ((await admin(p, 'GET', '/api/holds?status=pending')).json as unknown as { id: string }[])[0]?.id;
    if (id) return id;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

const deletes = (id: string = POCKETOS.volume.scratch): number => fake.received.filter((r) => r.executed && r.rootFields.includes('volumeDelete') && JSON.stringify(r.query + JSON.stringify(r.variables)).includes(id)).length;

describe('the agent side', () => {
  it('pending past --hold-timeout; approved; the identical retry goes through exactly once', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    try {
      const first = await call(p, SCRATCH_DELETE);
      expect(first.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(first.message).toMatch(/Hold H-\S+ must be approved .*scopegate holds approve H-/);
      const id = first.holdId!;
      expect((await admin(p, 'GET', `/api/holds/${id}`)).json).toMatchObject({ id, status: 'pending', agent: 'anonymous', operation: 'volumeDelete', rule: 'irreversible-destruction', target: { type: 'volume', id: POCKETOS.volume.scratch } });
      // before approval the retry is not forwarded: it joins the pending hold instead of making a
      // second one that would stay pending after the first went through (issue 18)
      const early = await call(p, SCRATCH_DELETE);
      expect(early.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(early.holdId).toBe(id);
      expect(((await admin(p, "GET", "/api/holds?status=pending")).json as unknown as unknown[]).length).toBe(1);
      const joined = (await admin(p, 'GET', `/api/audit?hold=${id}`)).json as { events: { event: string; reason: string; decisionId: string }[] };
      const earlyDecision = (early.body['errors'] as { extensions: { decisionId: string } }[])[0]!.extensions.decisionId;
      expect(joined.events.find((e) => e.event === 'hold' && e.reason === `joined ${id}: the identical call is already waiting for a person`)?.decisionId).toBe(earlyDecision);
      const ok = await admin(p, 'POST', `/api/holds/${id}/approve`, { reason: 'scratch is staging-only' });
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ status: 'approved', decidedBy: 'admin-api', decisionReason: 'scratch is staging-only' });
      expect(deletes()).toBe(0);
      const retry = await call(p, SCRATCH_DELETE);
      expect(retry.code).toBe('FORWARDED');
      expect(deletes()).toBe(1);
      expect((await admin(p, 'GET', `/api/holds/${id}`)).json).toMatchObject({ status: 'used' });
      // used up: once more and it is held anew
      fake.world = pocketOsWorld();
      expect((await call(p, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(deletes()).toBe(1);
    } finally {
      await p.stop();
    }
  });

  it('approved while the call waits: the waiting call is forwarded and gets the provider\'s answer', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '20') });
    try {
      const waiting = call(p, SCRATCH_DELETE);
      const id = await pendingHoldId(p);
      expect(id).toBeDefined();
      expect(deletes()).toBe(0);
      expect((await admin(p, 'POST', `/api/holds/${id}/approve`, {})).status).toBe(200);
      const answer = await waiting;
      expect(answer.code).toBe('FORWARDED');
      expect(answer.body['data']).toEqual({ volumeDelete: true });
      expect(deletes()).toBe(1);
    } finally {
      await p.stop();
    }
  });

  it('denied while the call waits: the agent gets SCOPEGATE_DENIED with the reason; nothing forwarded', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '20') });
    try {
      const waiting = call(p, SCRATCH_DELETE);
      const id = await pendingHoldId(p);
      expect((await admin(p, 'POST', `/api/holds/${id}/deny`, { reason: 'keep the scratch data' })).status).toBe(200);
      const answer = await waiting;
      expect(answer.code).toBe('SCOPEGATE_DENIED');
      expect(answer.message).toMatch(/was denied by admin-api: keep the scratch data/);
      expect(deletes()).toBe(0);
    } finally {
      await p.stop();
    }
  });

  it('a waiting client that disconnects leaves the hold pending, and nothing is forwarded', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '20') });
    try {
      const ac = new AbortController();
      const waiting = call(p, SCRATCH_DELETE, ACCOUNT, ac.signal).catch((e: Error) => e);
      const id = await pendingHoldId(p);
      ac.abort();
      expect(await waiting).toBeInstanceOf(Error);
      await p.waitForLog((l) => l.msg === 'request' && /client left/.test(String(l.reason)));
      expect((await admin(p, 'GET', `/api/holds/${id}`)).json['status']).toBe('pending');
      // approving it now does not forward anything by itself: only the identical retry would
      expect((await admin(p, 'POST', `/api/holds/${id}/approve`, {})).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(deletes()).toBe(0);
    } finally {
      await p.stop();
    }
  });
});

describe('nothing slips through', () => {
  it('double approval: the second is refused (409); one forward', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    try {
      const { holdId } = await call(p, SCRATCH_DELETE);
      expect((await admin(p, 'POST', `/api/holds/${holdId}/approve`)).status).toBe(200);
      const again = await admin(p, 'POST', `/api/holds/${holdId}/approve`);
      expect(again.status).toBe(409);
      expect(again.json['message']).toMatch(/already approved/);
      expect((await call(p, SCRATCH_DELETE)).code).toBe('FORWARDED');
      fake.world = pocketOsWorld();
      expect((await call(p, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(deletes()).toBe(1);
    } finally {
      await p.stop();
    }
  });

  it('two concurrent approvals and two concurrent retries: exactly one forward', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    try {
      const { holdId } = await call(p, SCRATCH_DELETE);
      const approvals = await Promise.all([admin(p, 'POST', `/api/holds/${holdId}/approve`), admin(p, 'POST', `/api/holds/${holdId}/approve`)]);
      expect(approvals.map((a) => a.status).sort()).toEqual([200, 409]);
      const retries = await Promise.all([call(p, SCRATCH_DELETE), call(p, SCRATCH_DELETE)]);
      expect(retries.map((r) => r.code).sort()).toEqual(['FORWARDED', 'SCOPEGATE_HOLD_PENDING']);
      expect(deletes()).toBe(1);
    } finally {
      await p.stop();
    }
  });

  it('an approval replayed for a different call (other target, other agent, other spelling of arguments) is not used', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0'), env: {} });
    try {
      const { holdId } = await call(p, `mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`);
      expect(holdId).toBeDefined();
      expect((await admin(p, 'POST', `/api/holds/${holdId}/approve`)).status).toBe(200);
      // same mutation, other environment argument: a different call
      const other = await call(p, `mutation { serviceDelete(id: "${POCKETOS.svc.db}", environmentId: "${POCKETOS.env.pr12}") }`);
      expect(other.code).not.toBe('FORWARDED');
      // a different mutation on the same target
      expect((await call(p, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      // the approved call under another credential: a different caller's scope view, not the approved call
      const otherCred = await call(p, `mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`, { 'project-access-token': POCKETOS.token.project });
      expect(otherCred.code).toBe('SCOPEGATE_HOLD_PENDING');
      // the approved call under another credential that sees the same project: the approval was for the credential it was shown with
      const workspaceCred = await call(p, `mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`, { authorization: `Bearer ${POCKETOS.token.workspace}` });
      expect(workspaceCred.code).toBe('SCOPEGATE_HOLD_PENDING');
      // the approved call with something added to the URL: the upstream reads the URL too, so it is another call
      const otherUrl = await call(p, `mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`, ACCOUNT, undefined, undefined, '/graphql/v2?source=agent');
      expect(otherUrl.code).toBe('SCOPEGATE_HOLD_PENDING');
      // the identical call, spelled with an alias and a variable: the same call, let through once
      const same = await call(p, `mutation($e: String) { x: serviceDelete(id: "${POCKETOS.svc.api}", environmentId: $e) }`, ACCOUNT, undefined, { e: POCKETOS.env.pr12 });
      expect(same.code).toBe('FORWARDED');
      expect(fake.received.filter((r) => r.executed && r.rootFields.includes('serviceDelete')).length).toBe(1);
    } finally {
      await p.stop();
    }
  });

  it('a scope that changed after approval voids the approval: a new hold is made', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    try {
      const { holdId } = await call(p, SCRATCH_DELETE);
      expect((await admin(p, 'POST', `/api/holds/${holdId}/approve`)).status).toBe(200);
      // someone attaches the scratch volume to the api service in a second (fork) environment
      const vi = fake.world.volumeInstances.find((v) => v.id === POCKETOS.volumeInstance.scratch)!;
      fake.world.volumeInstances.push({ ...vi, id: 'vi-pr-scratch', environmentId: POCKETOS.env.pr12 });
      const retry = await call(p, SCRATCH_DELETE);
      expect(retry.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(retry.holdId).not.toBe(holdId);
      expect(deletes()).toBe(0);
      expect((await admin(p, 'GET', `/api/holds/${holdId}`)).json['status']).toBe('approved');
    } finally {
      await p.stop();
    }
  });

  it('approval after the hold expired is refused; an approval that lapsed lets nothing through', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0', '--hold-ttl', '1s', '--approval-ttl', '1s') });
    try {
      const { holdId } = await call(p, SCRATCH_DELETE);
      await new Promise((r) => setTimeout(r, 1300));
      const late = await admin(p, 'POST', `/api/holds/${holdId}/approve`);
      expect(late.status).toBe(409);
      const second = await call(p, SCRATCH_DELETE);
      expect((await admin(p, 'POST', `/api/holds/${second.holdId}/approve`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1300));
      expect((await call(p, SCRATCH_DELETE)).code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(deletes()).toBe(0);
    } finally {
      await p.stop();
    }
  });
});

describe('nothing is lost', () => {
  it('SIGKILL between hold and approval, then restart: the hold is intact, nothing forwarded; approval then works once; ids never reused', async () => {
    const work = mkdtempSync(join(tmpdir(), 'sg-crash-'));
    const dirs = { caDir: join(work, 'ca'), dataDir: join(work, 'data') };
    const p1 = await startProxy({ args: proxyArgs('--hold-timeout', '0'), ...dirs });
    const first = await call(p1, SCRATCH_DELETE);
    const before = (await admin(p1, 'GET', `/api/holds/${first.holdId}`)).json;
    p1.child.kill('SIGKILL');
    await p1.exited;
    const p2 = await startProxy({ args: proxyArgs('--hold-timeout', '0'), ...dirs });
    try {
      const after = (await admin(p2, 'GET', `/api/holds/${first.holdId}`)).json;
      expect(after).toEqual(before);
      expect(deletes()).toBe(0);
      // the retry after the restart joins the hold that survived it; another held call gets a new id
      const second = await call(p2, SCRATCH_DELETE);
      expect(second.holdId).toBe(first.holdId);
      const other = await call(p2, `mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`);
      expect(other.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(other.holdId).not.toBe(first.holdId);
      expect((await admin(p2, 'POST', `/api/holds/${first.holdId}/approve`)).status).toBe(200);
      expect(deletes()).toBe(0);
      expect((await call(p2, SCRATCH_DELETE)).code).toBe('FORWARDED');
      expect(deletes()).toBe(1);
      const audit = (await admin(p2, 'GET', `/api/audit?hold=${first.holdId}`)).json as { events: { event: string }[] };
      expect(audit.events.map((e) => e.event).reverse()).toEqual(['hold', 'hold', 'approve', 'use', 'forward']);
    } finally {
      await p2.stop();
    }
  });
});

describe('the person side', () => {
  it('admin API: 401 with WWW-Authenticate, 405 with Allow, 404 for an unknown id, token only from the header', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    try {
      const { holdId } = await call(p, SCRATCH_DELETE);
      const noToken = await admin(p, 'POST', `/api/holds/${holdId}/approve`, {}, null);
      expect(noToken.status).toBe(401);
      expect(noToken.headers['www-authenticate']).toMatch(/^Bearer/);
      const inUrl = await request(`${p.adminUrl}/api/holds/${holdId}/approve?token=${p.adminToken}`, { method: 'POST' });
      expect(inUrl.statusCode).toBe(401);
      await inUrl.body.dump();
      const inBody = await admin(p, 'POST', `/api/holds/${holdId}/approve`, { token: p.adminToken }, null);
      expect(inBody.status).toBe(401);
      const wrongMethod = await admin(p, 'GET', `/api/holds/${holdId}/approve`);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers['allow']).toBe('POST');
      expect((await admin(p, 'GET', '/api/holds/H-nope')).status).toBe(404);
      expect((await admin(p, 'POST', '/api/holds/H-nope/approve')).status).toBe(404);
      expect((await admin(p, 'GET', '/api/holds?status=weird')).status).toBe(400);
      // none of these changed anything
      expect((await admin(p, 'GET', `/api/holds/${holdId}`)).json['status']).toBe('pending');
      const list = (await admin(p, 'GET', '/api/holds')).json as unknown as Record<string, unknown>[];
      expect(Object.keys(list[0]!).slice(0, 12)).toEqual(['id', 'decisionId', 'status', 'createdAt', 'expiresAt', 'agent', 'host', 'operation', 'target', 'scope', 'rule', 'reason']);
      expect(String(list[0]!['createdAt'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    } finally {
      await p.stop();
    }
  });

  // issue 18: an environment's deletion said "backups: not applicable" and nothing of what it destroys
  it('an environment deletion shows what it destroys with it and the backups on its volumes', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    try {
      const held = await call(p, `mutation { environmentDelete(id: "${POCKETOS.env.staging}") }`);
      expect(held.code).toBe('SCOPEGATE_HOLD_PENDING');
      expect(held.message).toMatch(/environment env-staging \(staging\) is bound to environment staging; .*destroys with it 2 services \(api, postgres\), 2 volume instances \(pgdata, scratch\); 1 backup stored on the target itself/);
      const shown = await run(process.execPath, [CLI, 'holds', 'show', held.holdId!, '--admin', `127.0.0.1:${p.adminPort}`, '--data-dir', p.dataDir]);
      expect(shown.stdout).toMatch(/scope {5}project pocketos: environment env-staging \(staging\) .*destroys with it 2 services \(api, postgres\), 2 volume instances \(pgdata, scratch\)/);
      expect(shown.stdout).toMatch(/live deployments in staging/);
      expect(fake.received.filter((r) => r.executed && r.rootFields.includes('environmentDelete'))).toHaveLength(0);
    } finally {
      await p.stop();
    }
  });

  it('scopegate holds list / show / approve / deny through the admin API', async () => {
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0') });
    const sg = (...args: string[]) => run(process.execPath, [CLI, 'holds', ...args, '--admin', `127.0.0.1:${p.adminPort}`, '--data-dir', p.dataDir]);
    try {
      const a = await call(p, SCRATCH_DELETE);
      const b = await call(p, `mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`);
      const list = await sg('list', '--status', 'pending');
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(a.holdId!);
      expect(list.stdout).toMatch(/pending {3}not waiting {2}.* volumeDelete volume:vol-stg-only {2}\[project pocketos: volume vol-stg-only \(scratch\) is bound to environment staging; live deployments in staging; traffic idle: .*; no backups\]/);
      const show = await sg('show', a.holdId!);
      expect(show.stdout).toMatch(/scope {5}project pocketos: volume vol-stg-only \(scratch\) is bound to environment staging/);
      expect(show.stdout).toMatch(/traffic idle: staging had no traffic in the last 15 min; no backups/);
      expect(show.stdout).toMatch(/confirm {3}volumeDelete cannot be undone: approve with --confirm scratch/);
      expect(show.stdout).toMatch(/ {2}1\. volumeDelete on volume vol-stg-only {2}\[destructive-irreversible\] {2}→ hold \(irreversible-destruction\)/);
      // irreversible: without --confirm (and no terminal to ask on) nothing is approved
      const unconfirmed = await sg('approve', a.holdId!, '--reason', 'fine');
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toMatch(/volumeDelete cannot be undone; to approve it, name its target: scopegate holds approve H-\S+ --confirm scratch/);
      const wrong = await sg('approve', a.holdId!, '--confirm', 'pgdata');
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/type the name of volume scratch \(vol-stg-only\): scratch \("pgdata" is not its name\) \(HTTP 422\)/);
      expect((await sg('approve', a.holdId!, '--reason', 'fine', '--confirm', 'scratch')).stdout).toMatch(/^approved H-/);
      expect((await sg('deny', b.holdId!)).stdout).toMatch(/^denied H-/);
      const again = await sg('approve', a.holdId!);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/already approved \(HTTP 409\)/);
      const bad = await run(process.execPath, [CLI, 'holds', 'list', '--admin', '127.0.0.1:1', '--admin-token', 'x'.repeat(20)]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/cannot reach the admin API at http:\/\/127.0.0.1:1/);
      expect((await sg('approve')).code).toBe(2);
    } finally {
      await p.stop();
    }
  });

  it('webhooks: a receiver on loopback gets the hold; a dead one delays nothing', async () => {
    const got: Record<string, unknown>[] = [];
    const pendingBlackHole: ServerResponse[] = [];
    let answeredBeforeBlackHoleReplied = false;
    const receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push({ path: req.url, body: JSON.parse(body) as unknown });
        res.end('ok');
      });
    });
    const blackHole = createServer((_req, res) => pendingBlackHole.push(res));
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    const rport = (receiver.address() as AddressInfo).port;
    const bport = (blackHole.address() as AddressInfo).port;
    const p = await startProxy({ args: proxyArgs('--hold-timeout', '0', '--notify', `http://127.0.0.1:${bport}/hook`, '--notify', `http://127.0.0.1:${rport}/json`, '--notify-slack', `http://127.0.0.1:${rport}/slack`) });
    try {
      const held = await call(p, SCRATCH_DELETE);
      for (let i = 0; i < 50 && (got.length < 2 || pendingBlackHole.length < 1); i++) await new Promise((r) => setTimeout(r, 100));
      // the agent has its answer, and the receivers theirs, while the dead receiver still holds scopegate's request open
      answeredBeforeBlackHoleReplied = held.code === 'SCOPEGATE_HOLD_PENDING' && pendingBlackHole.length === 1 && !pendingBlackHole[0]!.writableEnded;
      expect(answeredBeforeBlackHoleReplied).toBe(true);
      const json = got.find((g) => g.path === '/json')!.body as Record<string, unknown>;
      expect(json).toMatchObject({ event: 'hold', hold: { id: held.holdId, operation: 'volumeDelete', agent: 'anonymous', rule: 'irreversible-destruction' }, approve: `scopegate holds approve ${held.holdId}` });
      const slack = got.find((g) => g.path === '/slack')!.body as { text: string };
      expect(slack.text).toMatch(/holding volumeDelete on volume vol-stg-only .*is bound to environment staging/);
      expect(slack.text).toMatch(/traffic idle: staging had no traffic in the last 15 min/);
      expect(JSON.stringify(got)).not.toContain(POCKETOS.token.account);
    } finally {
      for (const r of pendingBlackHole) r.destroy();
      await p.stop();
      receiver.close();
      blackHole.close();
      blackHole.closeAllConnections();
    }
  });
});
