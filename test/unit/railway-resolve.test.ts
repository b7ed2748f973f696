import { describe, expect, it } from 'vitest';
import { parse, validate } from 'graphql';
import { ALL_QUERIES } from '../../src/providers/railway/queries.js';
import { parseSnapshot, reachInSnapshot, type Snapshot } from '../../src/providers/railway/snapshot.js';
import { railwayCredential } from '../../src/providers/railway/resolve.js';
import type { Operation } from '../../src/inspect/operation.js';
import { loadRailwaySubsetSchema } from '../fixtures/fake-railway/index.js';

describe('resolver queries', () => {
  const schema = loadRailwaySubsetSchema();
  for (const [name, q] of Object.entries(ALL_QUERIES)) {
    it(`${name} validates against the Railway schema subset`, () => {
      expect(validate(schema, parse(q)).map((e) => e.message)).toEqual([]);
    });
  }
});

const conn = (nodes: unknown[], more = false) => ({ edges: nodes.map((node) => ({ node })), pageInfo: { hasNextPage: more } });
const envNode = (id: string, name: string, fork: boolean, sis: unknown[], vis: unknown[]) => ({
  id, name, isEphemeral: fork, deletedAt: null, sourceEnvironment: fork ? { id: 'env-staging', name: 'staging' } : null,
  serviceInstances: conn(sis), volumeInstances: conn(vis),
});
const si = (serviceId: string, environmentId: string, active = 1, domains: string[] = []) => ({ id: `si-${serviceId}-${environmentId}`, serviceId, environmentId, activeDeployments: Array.from({ length: active }, (_, i) => ({ id: `d${i}`, status: 'SUCCESS' })), domains: { customDomains: domains.map((id) => ({ id, domain: `${id}.example` })), serviceDomains: [] } });
const vi = (id: string, volumeId: string, environmentId: string, serviceId: string | null) => ({ id, volumeId, environmentId, serviceId, mountPath: '/data', state: 'READY' });

const SNAP = parseSnapshot({
  project: {
    id: 'p', name: 'pocketos', workspaceId: 'w', primaryEnvironmentId: 'env-prod', deletedAt: null,
    environments: conn([
      envNode('env-prod', 'production', false, [si('svc-api', 'env-prod', 1, ['cd-1']), si('svc-db', 'env-prod')], [vi('vi-p', 'vol-shared', 'env-prod', 'svc-db')]),
      envNode('env-staging', 'staging', false, [si('svc-api', 'env-staging'), si('svc-db', 'env-staging', 0)], [vi('vi-s', 'vol-shared', 'env-staging', 'svc-db'), vi('vi-x', 'vol-stg', 'env-staging', null)]),
      envNode('env-pr', 'pr-12', true, [si('svc-api', 'env-pr')], []),
    ]),
    services: conn([{ id: 'svc-api', name: 'api' }, { id: 'svc-db', name: 'postgres' }]),
    volumes: conn([{ id: 'vol-shared', name: 'pgdata' }, { id: 'vol-stg', name: 'scratch' }]),
    buckets: conn([]),
  },
})!;

const op = (type: string, id: string | null, w: Record<string, unknown> = {}, reach: string | null = null, name = 'x'): Operation => ({
  provider: 'railway', type: 'mutation', effect: 'write', name, alias: null, operationName: null, args: {}, class: 'destructive-irreversible',
  target: { type, id, with: w }, reach, flags: [], classReason: null, payloadKind: null, conditional: false,
});
const envs = (o: Operation, snap: Snapshot = SNAP): string[] | string => {
  const r = reachInSnapshot(o, snap, {});
  return 'unresolved' in r ? r.unresolved : r.envIds;
};

describe("Railway's semantics, from a snapshot (no sockets)", () => {
  it('a volume reaches every environment that has an instance of it, whatever the call names', () => {
    expect(envs(op('volume', 'vol-shared', { environmentId: 'env-staging' }, 'project'))).toEqual(['env-prod', 'env-staging']);
    expect(envs(op('volume', 'vol-stg', {}, 'project'))).toEqual(['env-staging']);
  });
  it('volumeInstanceUpdate without an environment reaches all instances; with one, that one', () => {
    expect(envs(op('volume', 'vol-shared', {}, 'all-instances-without-environment'))).toEqual(['env-prod', 'env-staging']);
    expect(envs(op('volume', 'vol-shared', { environmentId: 'env-staging' }, 'all-instances-without-environment'))).toEqual(['env-staging']);
  });
  it('the fork rule: a non-fork environment named reaches every non-fork environment; a fork only itself', () => {
    expect(envs(op('service', 'svc-api', { environmentId: 'env-staging' }, 'non-fork-environments'))).toEqual(['env-staging', 'env-prod']);
    expect(envs(op('service', 'svc-api', { environmentId: 'env-pr' }, 'non-fork-environments'))).toEqual(['env-pr']);
    expect(envs(op('serviceInstance', 'svc-api', { serviceId: 'svc-api', environmentId: 'env-staging' }, 'non-fork-environments'))).toEqual(['env-staging', 'env-prod']);
  });
  it('a project-level update (no environment) reaches every instance of the service', () => {
    expect(envs(op('service', 'svc-api', {}, 'project'))).toEqual(['env-prod', 'env-staging', 'env-pr']);
  });
  it('domains, environments, projects and variables are placed where Railway keeps them', () => {
    expect(envs(op('customDomain', 'cd-1'))).toEqual(['env-prod']);
    expect(envs(op('environment', 'env-pr'))).toEqual(['env-pr']);
    expect(envs(op('project', 'p'))).toEqual(['env-prod', 'env-staging', 'env-pr']);
    expect(envs(op('variable', null, { environmentId: 'env-prod', projectId: 'p' }))).toEqual(['env-prod']);
  });
  it('ids Railway does not list are unresolved, not guessed', () => {
    expect(envs(op('volume', 'vol-nope', {}, 'project'))).toMatch(/not in project p/);
    expect(envs(op('variable', null, {}))).toMatch(/names no environment/);
    expect(envs(op('service', 'svc-api', { environmentId: 'env-elsewhere' }, 'non-fork-environments'))).toMatch(/not in project/);
  });
  it('live deployments are counted where the target runs', () => {
    const r = reachInSnapshot(op('volume', 'vol-shared', {}, 'project'), SNAP, {});
    expect('live' in r && Object.fromEntries([...r.live].map(([e, l]) => [e, l.count]))).toEqual({ 'env-prod': 1, 'env-staging': 0 });
  });
  it('a page that is not the last makes the view partial', () => {
    const partial = parseSnapshot({ project: { id: 'p', name: 'x', environments: conn([], true), services: conn([]), volumes: conn([]), buckets: conn([]) } })!;
    expect(partial.partial).toMatch(/more environments than one page/);
  });
});

describe('railwayCredential', () => {
  it('reads Bearer tokens and project tokens; both at once is refused', () => {
    expect(railwayCredential({ authorization: 'Bearer abc' })).toMatchObject({ header: 'authorization', kind: 'bearer' });
    expect(railwayCredential({ 'project-access-token': 'p' })).toMatchObject({ header: 'project-access-token', kind: 'project' });
    expect(railwayCredential({ authorization: 'Bearer a', 'project-access-token': 'p' })).toMatchObject({ problem: expect.stringMatching(/both/) });
    expect(railwayCredential({})).toBeNull();
    const a = railwayCredential({ authorization: 'Bearer one' }) as { id: string };
    const b = railwayCredential({ authorization: 'Bearer two' }) as { id: string };
    expect(a.id).not.toBe(b.id);
    expect(a.id).not.toContain('one');
  });
});
