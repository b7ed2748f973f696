import type { Operation } from '../../inspect/operation.js';
import type { EnvironmentRef, Scope } from '../../scope/scope.js';

/**
 * A project as Railway described it at one moment: plain data parsed from PROJECT_SNAPSHOT, and
 * pure functions that compute what an operation reaches in it. No sockets here, so every rule
 * of Railway's semantics is tested with tables.
 */
export interface Snapshot {
  project: { id: string; name: string; workspaceId: string | null; primaryEnvironmentId: string | null };
  environments: { id: string; name: string; isFork: boolean; isEphemeral: boolean }[];
  serviceInstances: { id: string; serviceId: string; environmentId: string; active: number; replicas: number; domainIds: string[] }[];
  volumeInstances: { id: string; volumeId: string; serviceId: string | null; environmentId: string; mountPath: string }[];
  services: Map<string, string>;
  volumes: Map<string, string>;
  buckets: Map<string, string>;
  /** Why the view is incomplete (a page that is not the last), or null. */
  partial: string | null;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? (v as Json) : {});
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function edges(conn: unknown, what: string, partial: string[]): Json[] {
  const c = obj(conn);
  if (obj(c['pageInfo'])['hasNextPage'] === true) partial.push(`more ${what} than one page`);
  return Array.isArray(c['edges']) ? (c['edges'] as unknown[]).map((e) => obj(obj(e)['node'])) : [];
}

/** Instances of a deployment that are (or are about to be) running: what "replicas" means to a person. */
const GONE_INSTANCE: ReadonlySet<string> = new Set(['CRASHED', 'EXITED', 'REMOVED', 'REMOVING', 'SKIPPED', 'STOPPED']);

function runningReplicas(active: unknown): number {
  if (!Array.isArray(active)) return 0;
  let n = 0;
  for (const d of active) {
    const instances = obj(d)['instances'];
    if (Array.isArray(instances)) n += instances.filter((i) => !GONE_INSTANCE.has(String(obj(i)['status']))).length;
  }
  return n;
}

export function parseSnapshot(data: Json): Snapshot | null {
  const p = obj(data['project']);
  if (!str(p['id'])) return null;
  const partial: string[] = [];
  const environments: Snapshot['environments'] = [];
  const serviceInstances: Snapshot['serviceInstances'] = [];
  const volumeInstances: Snapshot['volumeInstances'] = [];
  for (const e of edges(p['environments'], 'environments', partial)) {
    if (e['deletedAt']) continue;
    const envId = str(e['id'])!;
    environments.push({ id: envId, name: str(e['name']) ?? envId, isFork: e['sourceEnvironment'] !== null && e['sourceEnvironment'] !== undefined, isEphemeral: e['isEphemeral'] === true });
    for (const si of edges(e['serviceInstances'], 'service instances', partial)) {
      const domains = obj(si['domains']);
      const ids = [...((domains['customDomains'] as Json[] | undefined) ?? []), ...((domains['serviceDomains'] as Json[] | undefined) ?? [])].map((d) => str(obj(d)['id'])).filter((x): x is string => !!x);
      serviceInstances.push({
        id: str(si['id']) ?? '',
        serviceId: str(si['serviceId']) ?? '',
        environmentId: str(si['environmentId']) ?? envId,
        active: Array.isArray(si['activeDeployments']) ? (si['activeDeployments'] as unknown[]).length : 0,
        replicas: runningReplicas(si['activeDeployments']),
        domainIds: ids,
      });
    }
    for (const vi of edges(e['volumeInstances'], 'volume instances', partial)) {
      volumeInstances.push({ id: str(vi['id']) ?? '', volumeId: str(vi['volumeId']) ?? '', serviceId: str(vi['serviceId']), environmentId: str(vi['environmentId']) ?? envId, mountPath: str(vi['mountPath']) ?? '' });
    }
  }
  const names = (conn: unknown, what: string): Map<string, string> => new Map(edges(conn, what, partial).map((n) => [str(n['id']) ?? '', str(n['name']) ?? '']));
  return {
    project: { id: str(p['id'])!, name: str(p['name']) ?? str(p['id'])!, workspaceId: str(p['workspaceId']), primaryEnvironmentId: str(p['primaryEnvironmentId']) },
    environments,
    serviceInstances,
    volumeInstances,
    services: names(p['services'], 'services'),
    volumes: names(p['volumes'], 'volumes'),
    buckets: names(p['buckets'], 'buckets'),
    partial: partial.length > 0 ? partial.join(', ') : null,
  };
}

/** Facts a resolver found before the snapshot: which environment a deployment or instance is in. */
export interface Located {
  environmentId?: string;
  serviceId?: string;
  volumeId?: string;
  volumeInstanceId?: string;
  deploymentId?: string;
}

function env(s: Snapshot, id: string): EnvironmentRef | null {
  const e = s.environments.find((x) => x.id === id);
  if (!e) return null;
  return e.id === s.project.primaryEnvironmentId ? { id: e.id, name: e.name, primary: true } : { id: e.id, name: e.name };
}

const s = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Environments a service-scoped call reaches. Railway applies service changes to every non-fork
 * environment unless the named environment is a fork (schema description of serviceDelete and
 * serviceInstanceUpdate): the named environment is not the blast radius, the fork rule is.
 */
function serviceReach(snap: Snapshot, serviceId: string, reach: string | null, named: string | undefined): string[] | string {
  const withInstance = [...new Set(snap.serviceInstances.filter((i) => i.serviceId === serviceId).map((i) => i.environmentId))];
  if (named && !env(snap, named)) return `environment ${named} is not in project ${snap.project.id}`;
  if (reach === 'project' || (!named && reach !== null)) return withInstance;
  if (reach === 'non-fork-environments') {
    const namedEnv = named ? snap.environments.find((e) => e.id === named) : undefined;
    if (namedEnv?.isFork) return [namedEnv.id];
    const nonFork = withInstance.filter((id) => !snap.environments.find((e) => e.id === id)?.isFork);
    return [...new Set([...(named ? [named] : []), ...nonFork])];
  }
  return named ? [named] : withInstance;
}

/**
 * What the operation reaches in the project, as environments; null with a reason when the
 * snapshot cannot say. Backups and staged patches are added by the resolver afterwards.
 */
export interface Reach {
  envIds: string[];
  resource: Scope['resource'];
  /** Live deployments and their running replicas, by environment. */
  live: Map<string, { count: number; replicas: number }>;
  shared: boolean;
  /**
   * The services bound to the target, by environment: whose traffic is the target's (for a volume
   * the services that mount it, for a service itself, for an environment or a project all of its).
   */
  bound: Map<string, Set<string>>;
}

export function reachInSnapshot(op: Operation, snap: Snapshot, located: Located): Reach | { unresolved: string } {
  const t = op.target!;
  const w = t.with;
  const id = t.id ?? undefined;
  const named = s(w['environmentId']) ?? located.environmentId;
  const live = new Map<string, { count: number; replicas: number }>();
  const bound = new Map<string, Set<string>>();
  const bind = (envId: string, serviceIds: (string | null)[] | 'all'): void => {
    const set = bound.get(envId) ?? new Set<string>();
    bound.set(envId, set);
    for (const i of snap.serviceInstances) if (i.environmentId === envId && (serviceIds === 'all' || serviceIds.includes(i.serviceId))) set.add(i.serviceId);
  };
  const addLive = (envId: string, serviceIds: (string | null)[] | 'all'): void => {
    bind(envId, serviceIds);
    const mine = snap.serviceInstances.filter((i) => i.environmentId === envId && (serviceIds === 'all' || serviceIds.includes(i.serviceId)));
    const was = live.get(envId) ?? { count: 0, replicas: 0 };
    live.set(envId, { count: was.count + mine.reduce((a, i) => a + i.active, 0), replicas: was.replicas + mine.reduce((a, i) => a + i.replicas, 0) });
  };
  switch (t.type) {
    case 'volume': {
      const volumeId = id ?? s(w['volumeId']);
      if (!volumeId || !snap.volumes.has(volumeId)) return { unresolved: `volume ${volumeId ?? '(absent)'} is not in project ${snap.project.id}` };
      let instances = snap.volumeInstances.filter((v) => v.volumeId === volumeId);
      // a named environment narrows only calls that act per instance; a volume deletion has none
      if (named && op.reach === 'all-instances-without-environment') instances = instances.filter((v) => v.environmentId === named);
      const envIds = [...new Set(instances.map((v) => v.environmentId))];
      for (const v of instances) addLive(v.environmentId, v.serviceId ? [v.serviceId] : []);
      return { envIds, resource: { type: 'volume', id: volumeId, name: snap.volumes.get(volumeId) ?? '' }, live, shared: envIds.length > 1, bound };
    }
    case 'volumeInstance':
    case 'volumeBackup': {
      const viId = (t.type === 'volumeInstance' ? id : undefined) ?? s(w['volumeInstanceId']) ?? located.volumeInstanceId;
      const vi = snap.volumeInstances.find((v) => v.id === viId);
      if (!vi) return { unresolved: `volume instance ${viId ?? '(absent)'} is not in project ${snap.project.id}` };
      addLive(vi.environmentId, vi.serviceId ? [vi.serviceId] : []);
      return { envIds: [vi.environmentId], resource: { type: t.type, id: id ?? vi.id, name: snap.volumes.get(vi.volumeId) ?? '' }, live, shared: false, bound };
    }
    case 'service':
    case 'serviceInstance': {
      const serviceId = (t.type === 'service' ? id : s(w['serviceId'])) ?? id ?? located.serviceId;
      if (!serviceId || !snap.services.has(serviceId)) return { unresolved: `service ${serviceId ?? '(absent)'} is not in project ${snap.project.id}` };
      const r = serviceReach(snap, serviceId, op.reach, named);
      if (typeof r === 'string') return { unresolved: r };
      for (const e of r) addLive(e, [serviceId]);
      const mounted = snap.volumeInstances.filter((v) => v.serviceId === serviceId && r.includes(v.environmentId));
      return { envIds: r, resource: { type: 'service', id: serviceId, name: `${snap.services.get(serviceId) ?? ''}${mounted.length > 0 ? ` (mounts ${[...new Set(mounted.map((m) => snap.volumes.get(m.volumeId) ?? m.volumeId))].join(', ')})` : ''}` }, live, shared: r.length > 1, bound };
    }
    case 'deployment': {
      const e = located.environmentId;
      if (!e || !env(snap, e)) return { unresolved: `deployment ${id ?? '(absent)'}: its environment is not in project ${snap.project.id}` };
      const active = snap.serviceInstances.some((i) => i.environmentId === e && i.serviceId === located.serviceId && i.active > 0);
      if (active) addLive(e, located.serviceId ? [located.serviceId] : []);
      // a deployment's traffic is its service's there, live or not: a stopped one serves nothing, which the metrics say
      else bind(e, located.serviceId ? [located.serviceId] : []);
      return { envIds: [e], resource: { type: 'deployment', id: id ?? '', name: snap.services.get(located.serviceId ?? '') ?? '' }, live, shared: false, bound };
    }
    case 'environment': {
      const e = id ?? named;
      if (!e || !env(snap, e)) return { unresolved: `environment ${e ?? '(absent)'} is not in project ${snap.project.id}` };
      addLive(e, 'all');
      return { envIds: [e], resource: { type: 'environment', id: e, name: env(snap, e)!.name }, live, shared: false, bound };
    }
    case 'project':
    case 'bucket': {
      const envIds = snap.environments.map((e) => e.id);
      for (const e of envIds) addLive(e, 'all');
      if (t.type === 'bucket' && id && !snap.buckets.has(id)) return { unresolved: `bucket ${id} is not in project ${snap.project.id}` };
      return { envIds, resource: { type: t.type, id: id ?? snap.project.id, name: t.type === 'project' ? snap.project.name : (snap.buckets.get(id ?? '') ?? '') }, live, shared: envIds.length > 1, bound };
    }
    case 'domain':
    case 'customDomain':
    case 'serviceDomain': {
      const si = snap.serviceInstances.find((i) => id !== undefined && i.domainIds.includes(id));
      if (!si) return { unresolved: `domain ${id ?? '(absent)'} is not in project ${snap.project.id}` };
      addLive(si.environmentId, [si.serviceId]);
      return { envIds: [si.environmentId], resource: { type: t.type, id: id!, name: snap.services.get(si.serviceId) ?? '' }, live, shared: false, bound };
    }
    default: {
      // variables, TCP proxies, triggers and the like: placed by the environment the call names
      if (!named || !env(snap, named)) return { unresolved: `a ${t.type} call that names no environment of project ${snap.project.id}` };
      const serviceId = s(w['serviceId']);
      addLive(named, serviceId ? [serviceId] : 'all');
      return { envIds: [named], resource: { type: t.type, id: id ?? '', name: s(w['name']) ?? '' }, live, shared: false, bound };
    }
  }
}

export function toScope(snap: Snapshot, r: Reach): Scope {
  const environments = r.envIds.map((id) => env(snap, id)!).filter(Boolean);
  return {
    status: 'resolved',
    ...(r.resource ? { resource: r.resource } : {}),
    project: { id: snap.project.id, name: snap.project.name },
    environments,
    shared: r.shared,
    liveDeployments: environments.map((e) => {
      const l = r.live.get(e.id);
      return l && l.count > 0 ? { environment: e, count: l.count, replicas: l.replicas } : { environment: e, count: 0 };
    }),
    resolvedAt: new Date().toISOString(),
  };
}
