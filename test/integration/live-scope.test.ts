import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { POCKETOS, pocketOsWorld, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Live scope: scopegate asks the (fake) provider what a target is bound to, through the real
 * proxy process, and the shipped default policy decides on the answer.
 */
const GUARDED = 'backboard.railway.com';
let pki: TestPki;
let fake: FakeRailway;
let proxy: ProxyProcess;

const ACCOUNT = { authorization: `Bearer ${POCKETOS.token.account}` };
const PROJECT = { 'project-access-token': POCKETOS.token.project };

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  proxy = await startProxy({ args: ['--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--lookup-timeout', '2', '--hold-timeout', '0'] });
});
afterAll(async () => {
  await proxy?.stop();
  await fake?.stop();
});
afterEach(() => {
  fake.setMode('normal');
  fake.world = pocketOsWorld();
});

interface Answer {
  status: number;
  data: unknown;
  error?: { message: string; extensions: Record<string, unknown> };
  decisionId: string | undefined;
}

async function gql(query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = ACCOUNT, p: ProxyProcess = proxy): Promise<Answer> {
  const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
  try {
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
    const body = (await res.body.json()) as { data?: unknown; errors?: { message: string; extensions: Record<string, unknown> }[] };
    return { status: res.statusCode, data: body.data, ...(body.errors?.[0] ? { error: body.errors[0] } : {}), decisionId: res.headers['x-scopegate-decision'] as string | undefined };
  } finally {
    await agent.close();
  }
}

const executed = (field: string): number => fake.received.filter((r) => r.executed && r.rootFields.includes(field)).length;
const code = (a: Answer): unknown => a.error?.extensions['code'] ?? 'FORWARDED';

describe('the incident', () => {
  it('volumeDelete on the volume production shares with staging is denied, and never reaches Railway', async () => {
    const before = executed('volumeDelete');
    const a = await gql('mutation cleanup($id: String!) { volumeDelete(volumeId: $id) }', { id: POCKETOS.volume.pgdata });
    expect(code(a)).toBe('SCOPEGATE_DENIED');
    expect(a.error!.extensions['rule']).toBe('never-destroy-protected');
    expect(a.error!.message).toMatch(/volume vol-7f3a9d \(pgdata\) is bound to environments production, staging/);
    expect(a.error!.message).toMatch(/backups stored on the target itself/);
    expect(a.error!.extensions['scope']).toMatchObject({ status: 'resolved', project: 'pocketos', environments: ['production', 'staging'], shared: true, backups: { count: 3, onTarget: true } });
    expect(executed('volumeDelete')).toBe(before);
    expect(fake.world.volumes.some((v) => v.id === POCKETOS.volume.pgdata)).toBe(true);
    const line = await proxy.waitForLog((l) => l.decisionId === a.decisionId);
    expect(String(line.scope)).toMatch(/bound to environments production, staging/);
  });

  it('a volume only staging uses is held for a person, with its live scope', async () => {
    const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
    expect(code(a)).toBe('SCOPEGATE_HOLD_PENDING');
    expect(a.error!.extensions['rule']).toBe('irreversible-destruction');
    expect(a.error!.extensions['scope']).toMatchObject({ status: 'resolved', environments: ['staging'] });
    expect(executed('volumeDelete')).toBe(0);
  });

  it('a volume that is re-bound between two calls is judged on its binding at the second call', async () => {
    expect(code(await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`))).toBe('SCOPEGATE_HOLD_PENDING');
    const vi = fake.world.volumeInstances.find((v) => v.id === POCKETOS.volumeInstance.scratch)!;
    fake.world.volumeInstances.push({ ...vi, id: 'vi-prod-scratch', environmentId: POCKETOS.env.prod });
    const second = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
    expect(code(second)).toBe('SCOPEGATE_DENIED');
    expect(second.error!.extensions['scope']).toMatchObject({ environments: ['production', 'staging'], shared: true });
  });
});

describe('provider semantics, not argument appearances', () => {
  it('renaming production does not unprotect it: the primary environment stays protected', async () => {
    fake.world.environments.find((e) => e.id === POCKETOS.env.prod)!.name = 'blue';
    const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(a.error!.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected' });
    expect(a.error!.message).toMatch(/it reaches blue, in protected-environments/);
  });

  it('serviceDelete naming staging reaches production (staging is no fork): denied', async () => {
    const a = await gql(`mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.staging}") }`);
    expect(code(a)).toBe('SCOPEGATE_DENIED');
    expect((a.error!.extensions['scope'] as { environments: string[] }).environments).toContain('production');
  });
  it('serviceDelete naming the fork pr-12 reaches only pr-12: held, not denied', async () => {
    const a = await gql(`mutation { serviceDelete(id: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.pr12}") }`);
    expect(code(a)).toBe('SCOPEGATE_HOLD_PENDING');
    expect(a.error!.extensions['scope']).toMatchObject({ environments: ['pr-12'] });
  });
  it('a redeploy named only by deployment id is placed by a lookup and goes through', async () => {
    const before = executed('deploymentRedeploy');
    const a = await gql(`mutation { deploymentRedeploy(id: "${POCKETOS.deployment.apiStg}") { id } }`);
    expect(code(a)).toBe('FORWARDED');
    expect(executed('deploymentRedeploy')).toBe(before + 1);
  });
  it('a commit of staged changes is judged by the staged patch, read live', async () => {
    const stage = (patch: Record<string, unknown>): void => {
      fake.world.patches = fake.world.patches.filter((p) => !(p.environmentId === POCKETOS.env.staging && p.status === 'STAGED'));
      fake.world.patches.push({ id: `patch-${Object.keys(patch).join('-')}`, environmentId: POCKETOS.env.staging, status: 'STAGED', message: null, patch, createdAt: '2026-11-01T00:00:00.000Z', updatedAt: '2026-11-01T00:00:00.000Z', appliedAt: null });
    };
    stage({ volumes: { [POCKETOS.volume.scratch]: { isDeleted: true } } });
    const deleting = await gql(`mutation { environmentPatchCommitStaged(environmentId: "${POCKETOS.env.staging}") }`);
    expect(code(deleting)).toBe('SCOPEGATE_HOLD_PENDING');
    expect(deleting.error!.extensions['class']).toBe('destructive-irreversible');
    expect(deleting.error!.message).toMatch(/staged patch patch-volumes: the patch deletes volumes.vol-stg-only/);
    stage({ sharedVariables: { LOG_LEVEL: { value: 'debug' } } });
    const harmless = await gql(`mutation { environmentPatchCommitStaged(environmentId: "${POCKETOS.env.staging}") }`);
    expect(code(harmless)).toBe('FORWARDED');
  });
});

describe('what cannot be placed is unresolved, and the unresolved default holds it', () => {
  it('a lookup error', async () => {
    fake.setMode('fail');
    const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
    expect(code(a)).toBe('SCOPEGATE_HOLD_PENDING');
    expect(a.error!.extensions['rule']).toBe('unresolved-scope');
    expect(a.error!.message).toMatch(/lookup failed: .*HTTP 500/);
  });
  it('a partial answer', async () => {
    fake.setMode('partial');
    const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(a.error!.extensions).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'unresolved-scope' });
  });
  it('a lookup slower than --lookup-timeout', async () => {
    fake.setMode({ slowMs: 4000 });
    const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(a.error!.extensions).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'unresolved-scope' });
    expect(a.error!.message).toMatch(/timed out|did not finish/);
    expect(executed('volumeDelete')).toBe(0);
  });
  it('a project token, which sees one environment only, without a resolver credential', async () => {
    const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`, {}, PROJECT);
    expect(a.error!.extensions).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'unresolved-scope' });
    expect(a.error!.message).toMatch(/project token, which shows only its own environment/);
  });
  it('the same project token, with a resolver credential configured: the real binding decides', async () => {
    const p = await startProxy({ args: ['--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`, '--hold-timeout', '0'], env: { SCOPEGATE_RAILWAY_RESOLVER_TOKEN: POCKETOS.token.account } });
    try {
      const a = await gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`, {}, PROJECT, p);
      expect(a.error!.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'never-destroy-protected' });
      expect(p.stdout()).not.toContain(POCKETOS.token.account);
    } finally {
      await p.stop();
    }
  });
});

describe('lookups are never shared between credentials', () => {
  it('a scope cached for one token is not used for another', async () => {
    const q = `mutation { serviceInstanceUpdate(serviceId: "${POCKETOS.svc.api}", environmentId: "${POCKETOS.env.staging}", input: { numReplicas: 2 }) }`;
    const a = await gql(q, {}, ACCOUNT);
    expect(code(a)).toBe('FORWARDED');
    const again = await gql(q, {}, ACCOUNT);
    expect(code(again)).toBe('FORWARDED');
    const b = await gql(q, {}, PROJECT);
    expect(code(b)).toBe('SCOPEGATE_HOLD_PENDING');
    expect(b.error!.message).toMatch(/project token/);
  });
});

describe('holds are for danger, not for ignorance: a realistic agent session', () => {
  it('holds one call in the session, denies the incident, lets the rest through', async () => {
    const S = POCKETOS;
    const session: [string, string, 'FORWARDED' | 'SCOPEGATE_HOLD_PENDING' | 'SCOPEGATE_DENIED'][] = [
      ['read: who am I', '{ me { id email } }', 'FORWARDED'],
      ['read: project', `{ project(id: "${S.projectId}") { id name environments { edges { node { id name } } } } }`, 'FORWARDED'],
      ['read: staging deployments', `{ deployments(input: { projectId: "${S.projectId}", environmentId: "${S.env.staging}" }) { edges { node { id status } } } }`, 'FORWARDED'],
      ['read: variables', `{ variables(projectId: "${S.projectId}", environmentId: "${S.env.staging}", serviceId: "${S.svc.api}") }`, 'FORWARDED'],
      ['staging variable', `mutation { variableUpsert(input: { projectId: "${S.projectId}", environmentId: "${S.env.staging}", serviceId: "${S.svc.api}", name: "LOG_LEVEL", value: "debug" }) }`, 'FORWARDED'],
      ['staging variables, merged', `mutation { variableCollectionUpsert(input: { projectId: "${S.projectId}", environmentId: "${S.env.staging}", serviceId: "${S.svc.api}", variables: { FEATURE_X: "on" } }) }`, 'FORWARDED'],
      ['staging redeploy', `mutation { serviceInstanceRedeploy(serviceId: "${S.svc.api}", environmentId: "${S.env.staging}") }`, 'FORWARDED'],
      ['staging restart', `mutation { deploymentRestart(id: "${S.deployment.apiStg}") }`, 'FORWARDED'],
      ['read: logs-ish', `{ deployment(id: "${S.deployment.apiStg}") { id status } }`, 'FORWARDED'],
      ['staging scale', `mutation { serviceInstanceUpdate(serviceId: "${S.svc.api}", environmentId: "${S.env.staging}", input: { numReplicas: 2 }) }`, 'FORWARDED'],
      ['staging variable delete', `mutation { variableDelete(input: { projectId: "${S.projectId}", environmentId: "${S.env.staging}", serviceId: "${S.svc.api}", name: "FEATURE_X" }) }`, 'FORWARDED'],
      ['production variable change', `mutation { variableUpsert(input: { projectId: "${S.projectId}", environmentId: "${S.env.prod}", serviceId: "${S.svc.api}", name: "LOG_LEVEL", value: "warn" }) }`, 'FORWARDED'],
      ['production redeploy', `mutation { serviceInstanceRedeploy(serviceId: "${S.svc.api}", environmentId: "${S.env.prod}") }`, 'FORWARDED'],
      ['read: volumes', `{ project(id: "${S.projectId}") { volumes { edges { node { id name } } } } }`, 'FORWARDED'],
      ['staging-only volume deletion', `mutation { volumeDelete(volumeId: "${S.volume.scratch}") }`, 'SCOPEGATE_HOLD_PENDING'],
      ['the incident call', `mutation { volumeDelete(volumeId: "${S.volume.pgdata}") }`, 'SCOPEGATE_DENIED'],
      ['read: after', '{ me { id } }', 'FORWARDED'],
    ];
    const got: string[] = [];
    for (const [, q, expected] of session) {
      const a = await gql(q);
      got.push(String(code(a)));
      if (expected === 'FORWARDED') expect(a.error?.extensions['code'], q).toBeUndefined();
    }
    expect(got).toEqual(session.map(([, , e]) => e));
    const holds = got.filter((c) => c === 'SCOPEGATE_HOLD_PENDING').length;
    // one hold in 17 calls: the staging-only volume deletion, exactly what the table holds
    expect(holds / session.length).toBeCloseTo(1 / 17, 5);
  });
});
