import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import {
  Kind, buildSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isScalarType, parse, validate,
  type GraphQLField, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import {
  POCKETOS, RAILWAY_SUBSET_SCHEMA_PATH, loadRailwaySubsetSchema, pocketOsWorld, startFakeRailway, type FakeRailway,
} from '../fixtures/fake-railway/index.js';

import { HAVE_SHARED, SHARED_RAILWAY as SHARED } from '../helpers/shared.js';

if (!HAVE_SHARED) console.warn(`skipping the tests that read Railway's real schema and CLI documents: ${SHARED} is not there`);
/** CLI documents deliberately left out of the subset (see the comment at the top of the SDL file). */
const DROPPED: string[] = [];
/** Internal-subgraph operation: not in Railway's public schema either. */
const NOT_PUBLIC = ['cli-operations/historical/VolumeInstanceBackupBatchDelete@ff2c4d41-parent.graphql'];

const files = (dir: string): { name: string; src: string }[] =>
  !HAVE_SHARED ? [] : readdirSync(join(SHARED, dir)).filter((f) => f.endsWith('.graphql')).sort()
    .map((f) => ({ name: `${dir}/${f}`, src: readFileSync(join(SHARED, dir, f), 'utf8') }));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Who = 'account' | 'project' | 'workspace' | 'none' | 'bogus';

let pki: TestPki;
let fake: FakeRailway;
let agent: Agent;

function authHeaders(who: Who): Record<string, string> {
  switch (who) {
    case 'account': return { authorization: `Bearer ${POCKETOS.token.account}` };
    case 'workspace': return { authorization: `Bearer ${POCKETOS.token.workspace}` };
    case 'project': return { 'project-access-token': POCKETOS.token.project };
    case 'bogus': return { authorization: 'Bearer tok-nobody' };
    case 'none': return {};
  }
}

async function gql(query: string, variables: Json = {}, opts: { who?: Who; operationName?: string; path?: string } = {}): Promise<{ status: number; body: Json }> {
  const res = await request(`${fake.url}${opts.path ?? '/graphql/v2'}`, {
    method: 'POST', dispatcher: agent,
    headers: { 'content-type': 'application/json', ...authHeaders(opts.who ?? 'account') },
    body: JSON.stringify({ query, variables, operationName: opts.operationName }),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Json };
}

beforeAll(async () => {
  pki = makeTestPki('fake-railway', ['backboard.railway.com', '127.0.0.1']);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  agent = new Agent({ connect: { ca: pki.caPem } });
});

afterAll(async () => {
  await agent?.close();
  await fake?.stop();
});

beforeEach(() => {
  fake.world = pocketOsWorld();
  fake.received.length = 0;
  fake.setMode('normal');
});

describe('fake Railway: listening', () => {
  it('listens on 127.0.0.1 with HTTPS and serves /graphql/v2 and /graphql/internal', async () => {
    expect(fake.url).toBe(`https://127.0.0.1:${fake.port}`);
    for (const path of ['/graphql/v2', '/graphql/internal']) {
      const r = await gql('query { me { id email } }', {}, { path });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ data: { me: { id: POCKETOS.userId, email: 'owner@pocketos.example' } } });
    }
    const other = await request(`${fake.url}/graphql`, { method: 'POST', dispatcher: agent, body: '{}' });
    expect(other.statusCode).toBe(404);
    await other.body.dump();
  });

  it('accepts GET ?query=, application/graphql, JSON batches and gzip bodies', async () => {
    const q = 'query Who { projectToken { environmentId } }';
    const get = await request(`${fake.url}/graphql/v2?query=${encodeURIComponent(q)}&operationName=Who`, { dispatcher: agent, headers: authHeaders('project') });
    expect(await get.body.json()).toEqual({ data: { projectToken: { environmentId: POCKETOS.env.staging } } });
    const raw = await request(`${fake.url}/graphql/v2`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/graphql', ...authHeaders('project') }, body: q });
    expect(await raw.body.json()).toEqual({ data: { projectToken: { environmentId: POCKETOS.env.staging } } });
    const batch = await request(`${fake.url}/graphql/v2`, {
      method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...authHeaders('account') },
      body: gzipSync(JSON.stringify([{ query: '{ me { id } }' }, { query: 'mutation { deploymentRestart(id: "dep-api-prod") }' }])),
    });
    expect(await batch.body.json()).toEqual([{ data: { me: { id: POCKETOS.userId } } }, { data: { deploymentRestart: true } }]);
    expect(fake.received.map((r) => [r.method, r.rootFields])).toEqual([
      ['GET', ['projectToken']], ['POST', ['projectToken']], ['POST', ['me']], ['POST', ['deploymentRestart']],
    ]);
  });
});

describe('scope queries run against the PocketOS world', () => {
  const vars: Json = {
    projectId: POCKETOS.projectId, workspaceId: POCKETOS.workspaceId, bucketId: POCKETOS.bucket.assets, environmentId: POCKETOS.env.staging,
    deploymentId: POCKETOS.deployment.apiProd, serviceId: POCKETOS.svc.api, pluginId: POCKETOS.plugin.legacyRedis,
    volumeInstanceId: POCKETOS.volumeInstance.prod, vi0: POCKETOS.volumeInstance.prod, vi1: POCKETOS.volumeInstance.staging,
    id: POCKETOS.customDomain.apiProd, first: 10,
  };
  const scopeFiles = files('scope-queries');

  it.skipIf(!HAVE_SHARED)('found the scope query files', () => { expect(scopeFiles.length).toBeGreaterThanOrEqual(18); });

  for (const f of scopeFiles) {
    const ops = parse(f.src).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    for (const op of ops) {
      const name = op.name?.value ?? '';
      const who: Who = name === 'ScopegateProjectToken' ? 'project' : 'account';
      it(`${f.name} ${name} (${who} token)`, async () => {
        const v = Object.fromEntries((op.variableDefinitions ?? []).map((d) => [d.variable.name.value, vars[d.variable.name.value]]));
        const r = await gql(f.src, v, { operationName: name, who });
        expect(r.status).toBe(200);
        expect(r.body.errors).toBeUndefined();
        expect(r.body.data).toBeTruthy();
        expect(fake.received.at(-1)).toMatchObject({ operationName: name, executed: true, tokenKind: who });
      });
    }
  }

  it.skipIf(!HAVE_SHARED)('VolumeScope shows the shared volume in production AND staging, with the live Postgres deployments', async () => {
    const f = scopeFiles.find((x) => x.name.endsWith('/VolumeScope.graphql'));
    const r = await gql(f?.src ?? '', { projectId: POCKETOS.projectId });
    const vol = r.body.data.project.volumes.edges.map((e: Json) => e.node).find((v: Json) => v.id === POCKETOS.volume.pgdata);
    expect(vol.volumeInstances.edges.map((e: Json) => [e.node.id, e.node.environment.name, e.node.service.name, e.node.mountPath])).toEqual([
      ['vi-prod-7f3a', 'production', 'postgres', '/var/lib/postgresql/data'],
      ['vi-stg-7f3a', 'staging', 'postgres', '/var/lib/postgresql/data'],
    ]);
    const prod = r.body.data.project.environments.edges.find((e: Json) => e.node.id === POCKETOS.env.prod).node;
    const db = prod.serviceInstances.edges.find((e: Json) => e.node.serviceId === POCKETOS.svc.db).node;
    expect(db.activeDeployments).toEqual([expect.objectContaining({ id: 'dep-db-prod', status: 'SUCCESS', deploymentStopped: false })]);
    expect(r.body.data.project.primaryEnvironmentId).toBe('env-prod');
  });

  it.skipIf(!HAVE_SHARED)('VolumeInstanceScope lists the backups stored on the instance, newest first', async () => {
    const f = scopeFiles.find((x) => x.name.endsWith('/VolumeInstanceScope.graphql'));
    const r = await gql(f?.src ?? '', { volumeInstanceId: POCKETOS.volumeInstance.prod });
    expect(r.body.data.volumeInstanceBackupList.map((b: Json) => [b.id, b.scheduleId])).toEqual([['bk-prod-2', null], ['bk-prod-1', 'bks-prod-daily']]);
    expect(r.body.data.volumeInstance.volume.volumeInstances.edges.map((e: Json) => e.node.environment.name)).toEqual(['production', 'staging']);
  });

  it.skipIf(!HAVE_SHARED)('EnvironmentScope shows the fork: pr-12 is a fork of staging, staging is not a fork', async () => {
    const f = scopeFiles.find((x) => x.name.endsWith('/EnvironmentScope.graphql'));
    const pr = await gql(f?.src ?? '', { environmentId: POCKETOS.env.pr12 });
    expect(pr.body.data.environment).toMatchObject({ isEphemeral: true, sourceEnvironment: { id: 'env-staging', name: 'staging' } });
    const stg = await gql(f?.src ?? '', { environmentId: POCKETOS.env.staging });
    expect(stg.body.data.environment.sourceEnvironment).toBeNull();
  });

  it('Variable has no value; the root variables query renders values', async () => {
    const r = await gql('query($e: String!) { environment(id: $e) { variables { edges { node { name serviceId references } } } } }', { e: POCKETOS.env.staging });
    const names = r.body.data.environment.variables.edges.map((e: Json) => e.node);
    expect(names).toContainEqual({ name: 'DATABASE_URL', serviceId: 'svc-api', references: ['postgres.DATABASE_URL'] });
    const bad = await gql('query($e: String!) { environment(id: $e) { variables { edges { node { value } } } } }', { e: POCKETOS.env.staging });
    expect(bad.body.errors[0].message).toMatch(/Cannot query field "value"/);
    const vals = await gql('query { variables(projectId: "prj-pocketos", environmentId: "env-staging", serviceId: "svc-api") }');
    expect(vals.body.data.variables).toEqual({ DATABASE_URL: 'postgresql://postgres:stg-secret-0000@postgres.railway.internal:5432/railway', LOG_LEVEL: 'debug' });
  });
});

describe('tokens', () => {
  it('a project token for staging sees only env-staging', async () => {
    const who = await gql('{ projectToken { projectId environmentId project { name } environment { name } } }', {}, { who: 'project' });
    expect(who.body.data.projectToken).toEqual({ projectId: 'prj-pocketos', environmentId: 'env-staging', project: { name: 'pocketos' }, environment: { name: 'staging' } });
    const list = await gql('{ project(id: "prj-pocketos") { environments { edges { node { id } } } } environments(projectId: "prj-pocketos") { edges { node { id } } } }', {}, { who: 'project' });
    expect(list.body.data.project.environments.edges).toEqual([{ node: { id: 'env-staging' } }]);
    expect(list.body.data.environments.edges).toEqual([{ node: { id: 'env-staging' } }]);
    for (const q of ['{ environment(id: "env-prod") { id } }', '{ volumeInstance(id: "vi-prod-7f3a") { id } }', '{ deployment(id: "dep-api-prod") { id } }',
      '{ volumeInstanceBackupList(volumeInstanceId: "vi-prod-7f3a") { id } }', '{ serviceInstance(serviceId: "svc-api", environmentId: "env-prod") { id } }']) {
      const r = await gql(q, {}, { who: 'project' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ data: null, errors: [{ message: 'Not Authorized' }] });
    }
    const vol = await gql('{ project(id: "prj-pocketos") { volumes { edges { node { id volumeInstances { edges { node { id } } } } } } } }', {}, { who: 'project' });
    const pg = vol.body.data.project.volumes.edges.find((e: Json) => e.node.id === 'vol-7f3a9d').node;
    expect(pg.volumeInstances.edges).toEqual([{ node: { id: 'vi-stg-7f3a' } }]);
  });

  it('me fails for workspace and project tokens; apiToken lists the workspace; unknown tokens are Not Authorized with HTTP 200', async () => {
    for (const who of ['workspace', 'project'] as const) {
      expect((await gql('{ me { id } }', {}, { who })).body).toMatchObject({ data: null, errors: [{ message: 'Not Authorized' }] });
    }
    expect((await gql('{ apiToken { workspaces { id name } } }', {}, { who: 'workspace' })).body.data.apiToken.workspaces).toEqual([{ id: 'ws-pocketos', name: 'PocketOS' }]);
    for (const who of ['bogus', 'none'] as const) {
      const r = await gql('{ project(id: "prj-pocketos") { id } }', {}, { who });
      expect(r).toEqual({ status: 200, body: { data: null, errors: [{ message: 'Not Authorized' }] } });
    }
    expect(fake.received.map((r) => r.tokenKind)).toEqual(['workspace', 'project', 'workspace', 'unknown', 'none']);
    expect(JSON.stringify(fake.received)).not.toMatch(/tok-account-owner|tok-project-staging|tok-workspace|tok-nobody/);
  });
});

describe('mutations change the world', () => {
  const VOLUME_DELETE = 'mutation VolumeDelete($id: String!) { volumeDelete(volumeId: $id) }';

  it('volumeDelete on vol-7f3a9d removes the volume, both instances and all their backups', async () => {
    const r = await gql(VOLUME_DELETE, { id: POCKETOS.volume.pgdata });
    expect(r.body).toEqual({ data: { volumeDelete: true } });
    const w = fake.world;
    expect(w.volumes.map((v) => v.id)).toEqual(['vol-stg-only']);
    expect(w.volumeInstances.map((v) => v.id)).toEqual(['vi-stg-scratch']);
    expect(w.backups).toEqual([]);
    expect(w.backupSchedules).toEqual([]);
    const after = await gql('{ volumeInstanceBackupList(volumeInstanceId: "vi-prod-7f3a") { id } }');
    expect(after.body.errors[0].message).toBe('Not Authorized');
  });

  it('the incident: a staging project token deletes the volume in production too', async () => {
    const r = await gql(VOLUME_DELETE, { id: POCKETOS.volume.pgdata }, { who: 'project' });
    expect(r.body).toEqual({ data: { volumeDelete: true } });
    expect(fake.world.volumeInstances.some((v) => v.environmentId === 'env-prod')).toBe(false);
    expect(fake.world.backups.some((b) => b.id === 'bk-prod-2')).toBe(false);
  });

  it('a test can re-bind a volume in the world between calls', async () => {
    const vi = fake.world.volumeInstances.find((v) => v.id === 'vi-stg-scratch');
    if (vi) vi.serviceId = POCKETOS.svc.db;
    const r = await gql('{ volumeInstance(id: "vi-stg-scratch") { serviceId service { name } } }');
    expect(r.body.data.volumeInstance).toEqual({ serviceId: 'svc-db', service: { name: 'postgres' } });
  });

  it('serviceDelete in staging (not a fork) deletes the service in production too; in pr-12 (a fork) only there', async () => {
    await gql('mutation { serviceDelete(id: "svc-api", environmentId: "env-pr-12") }');
    expect(fake.world.serviceInstances.filter((s) => s.serviceId === 'svc-api').map((s) => s.environmentId)).toEqual(['env-prod', 'env-staging']);
    await gql('mutation ServiceDelete($environmentId: String!, $serviceId: String!) { serviceDelete(environmentId: $environmentId, id: $serviceId) }',
      { environmentId: 'env-staging', serviceId: 'svc-api' });
    expect(fake.world.services.map((s) => s.id)).toEqual(['svc-db']);
    expect(fake.world.volumeInstances.find((v) => v.id === 'vi-stg-scratch')?.serviceId).toBeNull();
  });

  it('volumeInstanceBackupRestore drops newer backups; backup delete removes one', async () => {
    await gql('mutation { volumeInstanceBackupRestore(volumeInstanceId: "vi-prod-7f3a", volumeInstanceBackupId: "bk-prod-1") { workflowId } }');
    expect(fake.world.backups.map((b) => b.id)).toEqual(['bk-prod-1', 'bk-stg-1']);
    const d = await gql('mutation { volumeInstanceBackupDelete(volumeInstanceId: "vi-stg-7f3a", volumeInstanceBackupId: "bk-stg-1") { workflowId } }');
    expect(d.body.data.volumeInstanceBackupDelete.workflowId).toMatch(/^wf-/);
    expect(fake.world.backups.map((b) => b.id)).toEqual(['bk-prod-1']);
  });

  it('variableCollectionUpsert with replace: true deletes unlisted variables; variableDelete removes one', async () => {
    await gql(`mutation($v: EnvironmentVariables!) { variableCollectionUpsert(input: { projectId: "prj-pocketos", environmentId: "env-staging", serviceId: "svc-api", variables: $v, replace: true }) }`,
      { v: { LOG_LEVEL: 'warn' } });
    const names = (env: string, svc: string | null): string[] => fake.world.variables.filter((v) => v.environmentId === env && v.serviceId === svc).map((v) => `${v.name}=${v.value}`);
    expect(names('env-staging', 'svc-api')).toEqual(['LOG_LEVEL=warn']);
    await gql('mutation { variableDelete(input: { projectId: "prj-pocketos", environmentId: "env-prod", name: "APP_ENV" }) }');
    expect(names('env-prod', null)).toEqual([]);
  });

  it('deploymentRemove stops the live deployment; deploymentRedeploy creates a new live one', async () => {
    await gql('mutation { deploymentRemove(id: "dep-api-stg") }');
    const si = await gql('{ serviceInstance(serviceId: "svc-api", environmentId: "env-staging") { activeDeployments { id } latestDeployment { id status } } }');
    expect(si.body.data.serviceInstance).toEqual({ activeDeployments: [], latestDeployment: { id: 'dep-api-stg', status: 'REMOVED' } });
    const re = await gql('mutation { deploymentRedeploy(id: "dep-api-prod") { id status } }');
    expect(re.body.data.deploymentRedeploy.status).toBe('SUCCESS');
    expect(fake.world.deployments.find((d) => d.id === 'dep-api-prod')?.status).toBe('REMOVED');
  });

  it.skipIf(!HAVE_SHARED)('staged changes: stage (merge), read back with id and updatedAt, commit applies them to that environment only', async () => {
    const stage = 'mutation($e: String!, $p: EnvironmentConfig!, $m: Boolean) { environmentStageChanges(environmentId: $e, input: $p, merge: $m) { id status updatedAt } }';
    const first = await gql(stage, { e: 'env-staging', p: { sharedVariables: { APP_ENV: { value: 'stg2' } } } });
    const second = await gql(stage, { e: 'env-staging', p: { volumes: { 'vol-7f3a9d': { isDeleted: true } } }, m: true });
    expect(second.body.data.environmentStageChanges.id).toBe(first.body.data.environmentStageChanges.id);
    expect(second.body.data.environmentStageChanges.updatedAt > first.body.data.environmentStageChanges.updatedAt).toBe(true);
    const read = await gql(files('scope-queries').find((f) => f.name.endsWith('EnvironmentStagedPatch.graphql'))?.src ?? '', { environmentId: 'env-staging' });
    expect(read.body.data.environmentStagedChanges).toMatchObject({
      status: 'STAGED', patch: { sharedVariables: { APP_ENV: { value: 'stg2' } }, volumes: { 'vol-7f3a9d': { isDeleted: true } } },
    });
    const commit = await gql('mutation { environmentPatchCommitStaged(environmentId: "env-staging") }');
    expect(commit.body.data.environmentPatchCommitStaged).toBe(first.body.data.environmentStageChanges.id);
    expect(fake.world.volumeInstances.map((v) => v.id)).toEqual(['vi-prod-7f3a', 'vi-stg-scratch']);
    expect(fake.world.backups.map((b) => b.id)).toEqual(['bk-prod-1', 'bk-prod-2']);
    expect(fake.world.variables.find((v) => v.environmentId === 'env-staging' && v.name === 'APP_ENV')?.value).toBe('stg2');
    const empty = await gql('{ environmentStagedChanges(environmentId: "env-staging") { patch } environment(id: "env-staging") { unmergedChangesCount } }');
    expect(empty.body.data).toEqual({ environmentStagedChanges: { patch: {} }, environment: { unmergedChangesCount: 0 } });
  });

  it('environmentDelete and projectDelete cascade', async () => {
    await gql('mutation { environmentDelete(id: "env-staging") }');
    expect(fake.world.environments.map((e) => e.id)).toEqual(['env-prod', 'env-pr-12']);
    expect(fake.world.volumes.map((v) => v.id)).toEqual(['vol-7f3a9d']);
    expect(fake.world.tokens.some((t) => t.kind === 'project')).toBe(false);
    await gql('mutation { projectDelete(id: "prj-pocketos") }');
    expect([fake.world.projects, fake.world.environments, fake.world.volumes, fake.world.deployments, fake.world.backups].map((x) => x.length)).toEqual([0, 0, 0, 0, 0]);
  });

  it('domain deletes', async () => {
    await gql('mutation { customDomainDelete(id: "cd-api-prod") serviceDomainDelete(id: "sd-api-prod") tcpProxyDelete(id: "tcp-db-prod") }');
    expect([fake.world.customDomains.length, fake.world.serviceDomains.map((d) => d.id), fake.world.tcpProxies.map((p) => p.id)])
      .toEqual([0, ['sd-api-stg'], ['tcp-db-stg']]);
  });
});

describe('metrics (httpMetrics, metrics) from the world’s traffic, as Railway’s schema has them', () => {
  const window = (seconds: number) => ({ startDate: new Date(Date.now() - seconds * 1000).toISOString(), endDate: new Date(Date.now() + 1000).toISOString() });
  const HTTP = 'query H($e: String!, $s: String!, $startDate: DateTime!, $endDate: DateTime!, $step: Int) { httpMetrics(environmentId: $e, serviceId: $s, startDate: $startDate, endDate: $endDate, stepSeconds: $step) { samples { ts value } } }';
  const NET = 'query N($p: String, $e: String, $startDate: DateTime!, $endDate: DateTime) { metrics(projectId: $p, environmentId: $e, startDate: $startDate, endDate: $endDate, measurements: [NETWORK_RX_GB, NETWORK_TX_GB], groupBy: [ENVIRONMENT_ID, SERVICE_ID]) { measurement tags { environmentId serviceId } values { ts value } } }';
  const sum = (xs: { value: number }[]) => xs.reduce((a, x) => a + x.value, 0);

  it('httpMetrics: request counts per step inside the window asked for, each step named by its start', async () => {
    const fifteen = await gql(HTTP, { e: POCKETOS.env.prod, s: POCKETOS.svc.api, step: 60, ...window(900) });
    const samples = fifteen.body.data.httpMetrics.samples as { ts: number; value: number }[];
    expect(sum(samples)).toBe(1204);
    const start = Math.floor(Date.parse(window(900).startDate) / 1000);
    for (const x of samples) expect((x.ts - start) % 60).toBeLessThanOrEqual(1);
    // a shorter window sees only the recent samples; the database serves no HTTP at all
    expect(sum((await gql(HTTP, { e: POCKETOS.env.prod, s: POCKETOS.svc.api, ...window(100) })).body.data.httpMetrics.samples)).toBe(601);
    expect((await gql(HTTP, { e: POCKETOS.env.prod, s: POCKETOS.svc.db, ...window(900) })).body.data.httpMetrics.samples).toEqual([]);
  });

  it('metrics: network bytes in GB per environment and service; a service with no samples is listed with none', async () => {
    const r = (await gql(NET, { p: POCKETOS.projectId, ...window(900) })).body.data.metrics as { measurement: string; tags: { environmentId: string; serviceId: string }; values: { value: number }[] }[];
    const of = (m: string, e: string, s: string) => r.find((x) => x.measurement === m && x.tags.environmentId === e && x.tags.serviceId === s)!;
    expect(sum(of('NETWORK_TX_GB', POCKETOS.env.prod, POCKETOS.svc.db).values) * 1024 ** 3).toBeCloseTo(320_000_000, -2);
    expect(of('NETWORK_RX_GB', POCKETOS.env.pr12, POCKETOS.svc.api).values).toEqual([]);
    expect(r).toHaveLength(5 * 2);
  });

  it('a project token sees its own environment’s metrics only; a test can make a field fail', async () => {
    const mine = (await gql(NET, { p: POCKETOS.projectId, ...window(900) }, { who: 'project' })).body.data.metrics as { tags: { environmentId: string } }[];
    expect(new Set(mine.map((x) => x.tags.environmentId))).toEqual(new Set([POCKETOS.env.staging]));
    expect((await gql(HTTP, { e: POCKETOS.env.prod, s: POCKETOS.svc.api, ...window(900) }, { who: 'project' })).body.errors[0].message).toBe('Not Authorized');
    fake.world.fieldErrors = { metrics: 'Not Authorized' };
    expect((await gql(NET, { p: POCKETOS.projectId, ...window(900) })).body.errors[0].message).toBe('Not Authorized');
    expect((await gql(HTTP, { e: POCKETOS.env.prod, s: POCKETOS.svc.api, ...window(900) })).body.data.httpMetrics.samples.length).toBeGreaterThan(0);
  });

  it('holdField keeps an answer back until released, and answeredAt says when it went', async () => {
    const held = fake.holdField('metrics');
    const pending = gql(NET, { p: POCKETOS.projectId, ...window(900) });
    await held.arrived;
    await gql(HTTP, { e: POCKETOS.env.prod, s: POCKETOS.svc.api, ...window(900) });
    expect(fake.received.find((x) => x.rootFields.includes('httpMetrics'))!.answeredAt).toBeDefined();
    expect(fake.received.find((x) => x.rootFields.includes('metrics'))!.answeredAt).toBeUndefined();
    held.release();
    expect((await pending).body.data.metrics.length).toBe(10);
  });
});

describe('received', () => {
  it('records schema root field names through aliases and fragments, never token values', async () => {
    const q = `mutation Sneaky($v: String!) {
      harmless: volumeDelete(volumeId: $v)
      ...F
      ... on Mutation { x: deploymentRestart(id: "dep-db-stg") }
      skipped: projectDelete(id: "prj-pocketos") @include(if: false)
    }
    fragment F on Mutation { y: serviceDelete(id: "svc-api", environmentId: "env-staging") }`;
    const r = await gql(q, { v: 'vol-stg-only' }, { who: 'project' });
    expect(r.body).toEqual({ data: { harmless: true, y: true, x: true } });
    // staging is not a fork: the staging token's serviceDelete removed the api service in production too
    expect(fake.world.serviceInstances.filter((s) => s.serviceId === 'svc-api').map((s) => s.environmentId)).toEqual(['env-pr-12']);
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0]).toMatchObject({
      transport: 'http', path: '/graphql/v2', method: 'POST', operationName: 'Sneaky', operationType: 'mutation',
      rootFields: ['volumeDelete', 'serviceDelete', 'deploymentRestart'], variables: { v: 'vol-stg-only' }, tokenKind: 'project', query: q, executed: true,
    });
    expect(fake.world.projects).toHaveLength(1);
    expect(JSON.stringify(fake.received)).not.toContain(POCKETOS.token.project);
  });
});

describe('websocket (graphql-transport-ws)', () => {
  function connect(headers: Record<string, string>): Promise<{ ws: WebSocket; msgs: Json[]; next: () => Promise<Json> }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${fake.port}/graphql/v2`, 'graphql-transport-ws', { ca: pki.caPem, headers });
      const msgs: Json[] = [];
      const waiters: ((m: Json) => void)[] = [];
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as Json;
        const w = waiters.shift();
        if (w) w(m); else msgs.push(m);
      });
      const next = (): Promise<Json> => {
        const m = msgs.shift();
        return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
      };
      ws.on('open', () => resolve({ ws, msgs, next }));
      ws.on('error', reject);
    });
  }

  it.skipIf(!HAVE_SHARED)('connection_init/ack, ping/pong, subscribe → next on change → complete', async () => {
    const { ws, next } = await connect(authHeaders('account'));
    expect(ws.protocol).toBe('graphql-transport-ws');
    ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    expect(await next()).toEqual({ type: 'connection_ack' });
    ws.send(JSON.stringify({ type: 'ping' }));
    expect(await next()).toEqual({ type: 'pong' });
    const sub = readFileSync(join(SHARED, 'cli-operations/subscriptions/Deployment.graphql'), 'utf8');
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: sub, variables: { id: 'dep-api-stg' }, operationName: 'Deployment' } }));
    expect(await next()).toEqual({ id: '1', type: 'next', payload: { data: { deployment: { id: 'dep-api-stg', status: 'SUCCESS', deploymentStopped: false } } } });
    await gql('mutation { deploymentRemove(id: "dep-api-stg") }');
    expect(await next()).toEqual({ id: '1', type: 'next', payload: { data: { deployment: { id: 'dep-api-stg', status: 'REMOVED', deploymentStopped: true } } } });
    // a mutation sent over the websocket executes too
    ws.send(JSON.stringify({ id: '2', type: 'subscribe', payload: { query: 'mutation { variableUpsert(input: { projectId: "prj-pocketos", environmentId: "env-prod", name: "X", value: "1" }) }' } }));
    expect(await next()).toEqual({ id: '2', type: 'next', payload: { data: { variableUpsert: true } } });
    expect(await next()).toEqual({ id: '2', type: 'complete' });
    ws.send(JSON.stringify({ id: '1', type: 'complete' }));
    expect(fake.received.filter((r) => r.transport === 'ws').map((r) => [r.operationType, r.rootFields, r.tokenKind])).toEqual([
      ['subscription', ['deployment'], 'account'], ['mutation', ['variableUpsert'], 'account'],
    ]);
    ws.close();
  });

  it('auth from connection_init payload; project token cannot subscribe to production; subscribe before ack closes 4401', async () => {
    const a = await connect({});
    a.ws.send(JSON.stringify({ type: 'connection_init', payload: { 'project-access-token': POCKETOS.token.project } }));
    expect(await a.next()).toEqual({ type: 'connection_ack' });
    a.ws.send(JSON.stringify({ id: 's', type: 'subscribe', payload: { query: 'subscription { deployment(id: "dep-api-prod") { id } }' } }));
    expect(await a.next()).toMatchObject({ id: 's', type: 'next', payload: { errors: [{ message: 'Not Authorized' }] } });
    a.ws.close();
    const b = await connect(authHeaders('account'));
    const closed = new Promise<number>((r) => b.ws.on('close', (code) => r(code)));
    b.ws.send(JSON.stringify({ id: 'x', type: 'subscribe', payload: { query: '{ me { id } }' } }));
    expect(await closed).toBe(4401);
  });
});

describe('modes', () => {
  it('slow, fail, partial, unauthorized', async () => {
    fake.setMode({ slowMs: 300 });
    const t0 = Date.now();
    expect((await gql('{ me { id } }')).body.data.me.id).toBe(POCKETOS.userId);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);

    fake.setMode('fail');
    expect((await gql('{ me { id } }')).status).toBe(500);

    fake.setMode('partial');
    const p = await gql('{ environment(id: "env-pr-12") { id name sourceEnvironment { id } } me { id } }');
    expect(p.status).toBe(200);
    expect(p.body.data.environment).toEqual({ id: 'env-pr-12', name: 'pr-12', sourceEnvironment: null });
    expect(p.body.errors[0].path).toEqual(['environment', 'sourceEnvironment']);
    const p2 = await gql('{ me { id } project(id: "prj-pocketos") { id } }');
    expect(p2.body).toMatchObject({ data: { me: { id: POCKETOS.userId }, project: null }, errors: [{ path: ['project'] }] });

    fake.setMode('unauthorized');
    expect(await gql('{ me { id } }')).toEqual({ status: 200, body: { data: null, errors: [{ message: 'Not Authorized' }] } });
    expect(fake.received.map((r) => r.executed)).toEqual([true, false, true, true, false]);
  });
});

describe.skipIf(!HAVE_SHARED)('every CLI query and mutation executes against the PocketOS world', () => {
  const generic: Json = {
    projectId: POCKETOS.projectId, environmentId: POCKETOS.env.staging, serviceId: POCKETOS.svc.api, bucketId: POCKETOS.bucket.assets,
    volumeId: POCKETOS.volume.scratch, volumeInstanceId: POCKETOS.volumeInstance.staging, volumeInstanceBackupId: POCKETOS.backup.stg1,
    workspaceId: POCKETOS.workspaceId, name: 'qa', mountPath: '/data', kinds: ['DAILY'], targetTimestamp: '2026-08-20T00:00:00.000Z',
    variables: { A: '1' }, patch: { sharedVariables: { X: { value: '1' } } }, sourceId: POCKETOS.env.staging, targetPort: 3000,
    commitMessage: 'test', merge: true, decryptVariables: true, workflowId: 'wf-none', first: 5,
    serviceInstancesFirst: 10, volumeInstancesFirst: 10,
  };
  const si = { environmentId: POCKETOS.env.staging, serviceId: POCKETOS.svc.api };
  const perDoc: Record<string, Json> = {
    BucketUpdate: { id: POCKETOS.bucket.assets, input: { name: 'assets2' } },
    CloudAgentDelete: { id: 'ca-1' },
    CustomDomainCreate: { input: { domain: 'new.pocketos.app', projectId: POCKETOS.projectId, ...si } },
    CustomDomainDelete: { id: POCKETOS.customDomain.apiProd },
    CustomDomainUpdate: { id: POCKETOS.customDomain.apiProd, environmentId: POCKETOS.env.prod },
    DeploymentRedeploy: { id: POCKETOS.deployment.apiStg },
    DeploymentRemove: { id: POCKETOS.deployment.apiStg },
    DeploymentRestart: { id: POCKETOS.deployment.apiStg },
    DisablePitrForHaCluster: { input: { environmentId: POCKETOS.env.staging, projectId: POCKETOS.projectId, rootServiceId: POCKETOS.svc.db } },
    EnablePitrForHaCluster: { input: { environmentId: POCKETOS.env.staging, projectId: POCKETOS.projectId, rootServiceId: POCKETOS.svc.db } },
    DisableServiceCdn: { input: si },
    EgressGatewayAssociationsClear: { input: si },
    EnvironmentDelete: { id: POCKETOS.env.pr12 },
    EnvironmentStageChanges: { input: { sharedVariables: { Y: { value: '2' } } } },
    GenerateShellToken: { input: { environmentId: POCKETOS.env.staging, instanceId: 'dep-api-stg-i1', scope: 'shell' } },
    ProjectScheduleDelete: { id: POCKETOS.projectId },
    PurgeServiceCache: { input: { ...si, scope: 'ALL' } },
    SandboxCheckpointDelete: { id: 'sbc-1' },
    SandboxDestroy: { id: 'sb-1' },
    ServiceDisconnect: { id: POCKETOS.svc.api },
    ServiceDomainDelete: { id: POCKETOS.serviceDomain.apiStg },
    ServiceDomainUpdate: { input: { ...si, domain: 'api-stg2.up.railway.app', serviceDomainId: POCKETOS.serviceDomain.apiStg } },
    ServiceInstanceUpdate: { input: { numReplicas: 2 } },
    SshPublicKeyDelete: { id: 'ssh-1' },
    TcpProxyDelete: { id: POCKETOS.tcpProxy.dbStg },
    TemplateDelete: { id: 'tpl-1' },
    TemplateDeployV2: { input: { serializedConfig: {}, templateId: 'tpl-1', projectId: POCKETOS.projectId, environmentId: POCKETOS.env.staging } },
    TemplateRevert: { input: { environmentId: POCKETOS.env.staging, projectId: POCKETOS.projectId, rootServiceId: POCKETOS.svc.db, templateCode: 'postgres' } },
    TemplateUnpublish: { id: 'tpl-1' },
    VariableDelete: { name: 'LOG_LEVEL' },
    VolumeAttach: { serviceId: POCKETOS.svc.db },
    VolumeDelete: { id: POCKETOS.volume.scratch },
    DeploymentStatus: { id: POCKETOS.deployment.apiStg },
    Deployments: { input: { projectId: POCKETOS.projectId, ...si } },
    GetEnvironmentConfig: { id: POCKETOS.env.staging },
    Project: { id: POCKETOS.projectId },
  };
  const docs = ['queries', 'mutations'].flatMap((d) => files(`cli-operations/${d}`));
  for (const f of docs) {
    const op = parse(f.src).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const name = op?.name?.value ?? '';
    const who: Who = name === 'ProjectToken' ? 'project' : 'account';
    it(`${f.name} (${who} token)`, async () => {
      fake.world.patches.push({
        id: 'patch-pre', environmentId: POCKETOS.env.staging, status: 'STAGED', message: null, patch: { sharedVariables: { APP_ENV: { value: 'x' } } },
        createdAt: '2026-08-20T00:00:00.000Z', updatedAt: '2026-08-20T00:00:00.000Z', appliedAt: null,
      });
      const v = Object.fromEntries((op?.variableDefinitions ?? []).map((d) => {
        const k = d.variable.name.value;
        return [k, perDoc[name]?.[k] ?? generic[k]];
      }));
      const r = await gql(f.src, v, { who, operationName: name });
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data).toBeTruthy();
    });
  }
});

describe('the SDL subset', () => {
  const subset = loadRailwaySubsetSchema();

  it('has the header and the required root fields', () => {
    expect(readFileSync(RAILWAY_SUBSET_SCHEMA_PATH, 'utf8')).toContain("Derived by hand from Railway's public schema (railwayapp/cli src/gql/schema.json @ df3838bf)");
    const mutations = Object.keys(subset.getMutationType()?.getFields() ?? {});
    for (const m of ['volumeDelete', 'volumeUpdate', 'volumeCreate', 'volumeInstanceUpdate', 'volumeInstanceBackupCreate', 'volumeInstanceBackupDelete',
      'volumeInstanceBackupRestore', 'volumeInstanceBackupLock', 'serviceDelete', 'serviceCreate', 'serviceUpdate', 'serviceInstanceUpdate',
      'serviceInstanceRedeploy', 'serviceInstanceDeploy', 'environmentCreate', 'environmentDelete', 'environmentRename', 'environmentPatchCommit',
      'environmentPatchCommitStaged', 'environmentStageChanges', 'environmentApplyChangeSet', 'projectDelete', 'projectCreate', 'projectUpdate',
      'projectScheduleDelete', 'projectTokenCreate', 'projectTokenDelete', 'apiTokenCreate', 'apiTokenDelete', 'deploymentRemove', 'deploymentRedeploy',
      'deploymentRestart', 'deploymentStop', 'deploymentRollback', 'deploymentCancel', 'variableUpsert', 'variableDelete', 'variableCollectionUpsert',
      'customDomainCreate', 'customDomainDelete', 'serviceDomainCreate', 'serviceDomainDelete', 'tcpProxyDelete', 'workspaceDelete', 'twoFactorInfoValidate']) {
      expect(mutations).toContain(m);
    }
    const vcu = subset.getType('VariableCollectionUpsertInput');
    expect(isInputObjectType(vcu) ? vcu.getFields().replace?.defaultValue : 'missing').toBe(false);
    for (const s of ['DateTime', 'JSON', 'EnvironmentConfig', 'EnvironmentVariables', 'BigInt', 'Upload']) expect(isScalarType(subset.getType(s))).toBe(true);
    expect(Object.keys(subset.getSubscriptionType()?.getFields() ?? {})).toContain('deployment');
  });

  const docs = [
    ...files('scope-queries'),
    ...['queries', 'mutations', 'subscriptions', 'inline', 'historical'].flatMap((d) => files(`cli-operations/${d}`)),
  ].filter((f) => !DROPPED.includes(f.name));
  it.skipIf(!HAVE_SHARED)('found the CLI documents', () => { expect(docs.length).toBeGreaterThan(80); });
  for (const f of docs) {
    it(`validates ${f.name}`, () => {
      const errors = validate(subset, parse(f.src)).map((e) => e.message);
      if (NOT_PUBLIC.includes(f.name)) expect(errors.join('\n')).toMatch(/Cannot query field "volumeInstanceBackupBatchDelete"/);
      else expect(errors).toEqual([]);
    });
  }

  it.skipIf(!HAVE_SHARED)('is a true subset of the real public schema (same names, types, arguments, defaults, enum values, input fields)', () => {
    const real: GraphQLSchema = buildSchema(readFileSync(join(SHARED, 'schema.graphql'), 'utf8'));
    const sig = (f: GraphQLField<unknown, unknown>): string =>
      `${String(f.type)}(${f.args.map((a) => `${a.name}:${String(a.type)}=${JSON.stringify(a.defaultValue)}`).join(',')})${f.deprecationReason ?? ''}`;
    const problems: string[] = [];
    for (const t of Object.values(subset.getTypeMap())) {
      if (t.name.startsWith('__')) continue;
      const r = real.getType(t.name);
      if (!r || r.constructor !== t.constructor) { problems.push(`type ${t.name}`); continue; }
      if ((isObjectType(t) && isObjectType(r)) || (isInterfaceType(t) && isInterfaceType(r))) {
        const rf = r.getFields();
        for (const f of Object.values(t.getFields())) {
          const g = rf[f.name];
          if (!g || sig(g) !== sig(f)) problems.push(`${t.name}.${f.name}`);
        }
      } else if (isInputObjectType(t) && isInputObjectType(r)) {
        const s = (x: typeof t): string => Object.values(x.getFields()).map((f) => `${f.name}:${String(f.type)}=${JSON.stringify(f.defaultValue)}`).sort().join(',');
        if (s(t) !== s(r)) problems.push(`input ${t.name}`);
      } else if (isEnumType(t) && isEnumType(r)) {
        if (t.getValues().map((v) => v.name).join() !== r.getValues().map((v) => v.name).join()) problems.push(`enum ${t.name}`);
      }
    }
    expect(problems).toEqual([]);
    expect(Object.keys(real.getTypeMap()).length).toBeGreaterThan(Object.keys(subset.getTypeMap()).length * 3);
  });
});
