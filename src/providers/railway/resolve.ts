import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Operation, OperationClass } from '../../inspect/operation.js';
import { LookupError, errorMessage } from '../../errors.js';
import { credentialId, type Credential, type LiveLookups, type LookupRecord } from '../../scope/live-lookups.js';
import { unresolved, type EnvironmentRef, type Scope, type Traffic } from '../../scope/scope.js';
import { classifyEnvironmentPatch } from './classify.js';
import * as Q from './queries.js';
import { parseSnapshot, reachInSnapshot, toScope, type Located, type Reach, type Snapshot } from './snapshot.js';
import { railwayTraffic } from './traffic.js';

/**
 * Railway's credentials: `Authorization: Bearer` (account, workspace or OAuth token: sees what
 * its owner sees) or `Project-Access-Token` (one environment of one project only).
 */
export function railwayCredential(headers: IncomingHttpHeaders): Credential | { problem: string } | null {
  const auth = headers['authorization'];
  const project = headers['project-access-token'];
  if (typeof auth === 'string' && typeof project === 'string') {
    // which one the API honours is Railway's choice, not ours to guess: judge neither view
    return { problem: 'the call carries both Authorization and Project-Access-Token' };
  }
  if (typeof project === 'string' && project.length > 0) return { header: 'project-access-token', value: project, kind: 'project', id: credentialId(project) };
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  if (m) return { header: 'authorization', value: `Bearer ${m[1]}`, kind: 'bearer', id: credentialId(m[1]!) };
  return null;
}

export interface ResolveContext {
  host: string;
  port: number;
  lookups: LiveLookups;
  signal: AbortSignal;
  /** The agent's own credential, from the call's headers. */
  agentCredential: Credential | { problem: string } | null;
  /** A read-broad credential configured for scopegate, used instead of the agent's when set. */
  resolverCredential: Credential | null;
  /** How far back recent traffic looks; 0 or absent: traffic is not looked up. */
  trafficWindowMs?: number;
  /** performance.now() by which every lookup must be done: traffic gives up a little earlier, so a slow metrics answer leaves the traffic unknown, not the scope unresolved. */
  deadlineAt?: number;
}

export const RAILWAY_GRAPHQL_PATH = '/graphql/v2';

const DANGEROUS: ReadonlySet<OperationClass> = new Set(['destructive-recoverable', 'destructive-irreversible', 'credential', 'unknown']);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});

/**
 * Ask Railway, live, what the operation's target is bound to. Every failure — a lookup error, a
 * timeout, an id Railway does not know, a view limited to one environment — is an unresolved
 * scope with the reason; nothing is assumed.
 */
export async function resolveRailway(op: Operation, ctx: ResolveContext): Promise<Scope> {
  const log: LookupRecord[] = [];
  const done = (scope: Scope): Scope => ({ ...scope, lookups: log.map((l) => `${l.name}${l.cached ? ' (cached)' : ` ${l.ms}ms`}`) });
  if (!op.target) return done(unresolved(`${op.name} names no resource scopegate can look up`));
  const agent = ctx.agentCredential;
  if (agent && 'problem' in agent) return done(unresolved(agent.problem));
  const cred = ctx.resolverCredential ?? agent;
  if (!cred) return done(unresolved('the call carries no Railway credential to look the target up with'));
  const fresh = DANGEROUS.has(op.class);
  const q = (name: string, query: string, variables: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
    ctx.lookups.query(ctx.host, ctx.port, RAILWAY_GRAPHQL_PATH, cred, name, query, variables, { signal: ctx.signal, fresh, log });

  let traffic: { result: Promise<Traffic>; stop: () => void } | undefined;
  try {
    const located: Located = {};
    const projectId = await locateProject(op, cred, q, located);
    if (!projectId) return done(unresolved(`cannot tell which project ${op.target.type} ${op.target.id ?? '(absent)'} belongs to with this credential`));
    const snap = parseSnapshot(await q('ScopegateProjectSnapshot', Q.PROJECT_SNAPSHOT, { projectId }));
    if (!snap) return done(unresolved(`project ${projectId} is not visible to this credential`));
    if (snap.partial) return done(unresolved(`partial view of project ${snap.project.name}: ${snap.partial}`));
    if (cred.kind === 'project') {
      return done(
        unresolved(
          `seen through a project token, which shows only its own environment of project ${snap.project.name}; configure a resolver credential (SCOPEGATE_RAILWAY_RESOLVER_TOKEN) so scopegate can see the whole project`,
        ),
      );
    }
    const reach = reachInSnapshot(op, snap, located);
    if ('unresolved' in reach) return done(unresolved(reach.unresolved));
    const scope = toScope(snap, reach);
    // traffic is asked for now, side by side with the backups and the staged patch below
    if (ctx.trafficWindowMs && ctx.trafficWindowMs > 0) traffic = lookUpTraffic(ctx, cred, fresh, log, snap, reach, scope.environments);

    // deleting a container (an environment, a project) destroys what it holds: name it, and count
    // the backups kept on its volumes, which go with them
    const container = (scope.resource?.type === 'environment' || scope.resource?.type === 'project') && op.class.startsWith('destructive');
    if (container) scope.contents = containedIn(snap, reach.envIds, scope.resource!.type === 'project');

    // backups inside the blast radius: Railway keeps them on the volume instance itself
    const instances = container
      ? snap.volumeInstances.filter((v) => reach.envIds.includes(v.environmentId))
      : scope.resource?.type === 'volume'
        ? snap.volumeInstances.filter((v) => v.volumeId === scope.resource!.id && reach.envIds.includes(v.environmentId))
        : scope.resource?.type === 'volumeInstance' || scope.resource?.type === 'volumeBackup'
          ? snap.volumeInstances.filter((v) => v.id === (str(op.target!.with['volumeInstanceId']) ?? located.volumeInstanceId ?? op.target!.id))
          : [];
    if (instances.length > 0) {
      const lists = await Promise.all(instances.map((v) => q('ScopegateBackups', Q.BACKUPS, { volumeInstanceId: v.id })));
      const all = lists.flatMap((d) => (Array.isArray(d['volumeInstanceBackupList']) ? (d['volumeInstanceBackupList'] as Record<string, unknown>[]) : []));
      const times = all.map((b) => str(b['createdAt'])).filter((x): x is string => !!x).sort();
      scope.backups = { count: all.length, onTarget: true, ...(times.length > 0 ? { newestAt: times[times.length - 1]! } : {}) };
      if (op.payloadKind === 'backup-restore') {
        const restoring = all.find((b) => b['id'] === op.target!.id);
        if (!restoring) return done(unresolved(`backup ${op.target.id ?? '(absent)'} is not one of the volume instance's backups`));
        const newer = all.filter((b) => String(b['createdAt']) > String(restoring['createdAt'])).length;
        scope.facts = { ...scope.facts, newerBackupsDropped: newer };
      }
    }

    // a commit of staged changes carries no payload: the staged patch is the call, read it now
    if (op.payloadKind === 'staged-patch') {
      const envId = str(op.target.with['environmentId']) ?? op.target.id;
      // always fresh: this is the check an approval will be bound to
      const d = await ctx.lookups.query(ctx.host, ctx.port, RAILWAY_GRAPHQL_PATH, cred, 'ScopegateStagedPatch', Q.STAGED_PATCH, { environmentId: envId }, { signal: ctx.signal, fresh: true, log });
      const staged = obj(d['environmentStagedChanges']);
      const patch = staged['patch'];
      const patchHash = createHash('sha256').update(JSON.stringify(patch ?? null)).digest('hex').slice(0, 16);
      const verdict = classifyEnvironmentPatch(typeof patch === 'string' ? safeJson(patch) : patch);
      scope.facts = { ...scope.facts, stagedPatch: { id: str(staged['id']) ?? null, updatedAt: str(staged['updatedAt']) ?? null, hash: patchHash, summary: verdict.reason } };
      scope.payloadClass = verdict.class === 'unknown' ? { class: 'unknown', reason: `the staged patch cannot be read: ${verdict.reason}` } : { class: verdict.class, reason: `staged patch ${str(staged['id']) ?? ''}: ${verdict.reason}` };
    }
    if (traffic) scope.traffic = await traffic.result;
    return done(scope);
  } catch (err) {
    if (err instanceof LookupError) return done(unresolved(`lookup failed: ${err.message}`));
    return done(unresolved(`lookup failed: ${errorMessage(err)}`));
  } finally {
    traffic?.stop();
  }
}

/**
 * The traffic lookups, started at once and never failing: under their own deadline, a little
 * before the call's, so that what they cannot say in time is unknown traffic in a resolved scope.
 */
function lookUpTraffic(ctx: ResolveContext, cred: Credential, fresh: boolean, log: LookupRecord[], snap: Snapshot, reach: Reach, environments: EnvironmentRef[]): { result: Promise<Traffic>; stop: () => void } {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (ctx.deadlineAt !== undefined) {
    const remaining = ctx.deadlineAt - performance.now();
    timer = setTimeout(() => ac.abort(), Math.max(0, remaining - Math.min(250, remaining * 0.2)));
    timer.unref();
  }
  const windowSeconds = Math.round(ctx.trafficWindowMs! / 1000);
  const now = Date.now();
  const result = railwayTraffic({ projectId: snap.project.id, environments, bound: reach.bound, windowSeconds, now }, (name, query, variables, cacheKey) =>
    ctx.lookups.query(ctx.host, ctx.port, RAILWAY_GRAPHQL_PATH, cred, name, query, variables, { signal: ac.signal, fresh, log, cacheKey }),
  ).catch((err: unknown): Traffic => ({ windowSeconds, measuredAt: new Date(now).toISOString(), environments: environments.map((environment) => ({ environment, unknown: errorMessage(err) })) }));
  return {
    result,
    // once the scope is settled (or failed), traffic nobody will read is not waited for upstream either
    stop: () => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      ac.abort();
    },
  };
}

/** The services and volumes in these environments (and the environments themselves, for a project), by name. */
function containedIn(snap: Snapshot, envIds: readonly string[], withEnvironments: boolean): NonNullable<Scope['contents']> {
  const envName = (id: string): string => snap.environments.find((e) => e.id === id)?.name ?? id;
  const out: NonNullable<Scope['contents']> = [];
  if (withEnvironments) for (const id of envIds) out.push({ type: 'environment', id, name: envName(id) });
  for (const i of snap.serviceInstances.filter((x) => envIds.includes(x.environmentId))) {
    out.push({ type: 'service', id: i.serviceId, name: `${snap.services.get(i.serviceId) ?? i.serviceId}${withEnvironments ? ` in ${envName(i.environmentId)}` : ''}`, environment: envName(i.environmentId) });
  }
  for (const v of snap.volumeInstances.filter((x) => envIds.includes(x.environmentId))) {
    // an environment's deletion takes its instance of a volume (and the backups on it); a volume
    // shared with another environment keeps its other instances
    out.push(withEnvironments
      ? { type: 'volume', id: v.volumeId, name: `${snap.volumes.get(v.volumeId) ?? v.volumeId} in ${envName(v.environmentId)}`, environment: envName(v.environmentId) }
      : { type: 'volume instance', id: v.id, name: snap.volumes.get(v.volumeId) ?? v.volumeId, environment: envName(v.environmentId) });
  }
  return out;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

type Query = (name: string, query: string, variables?: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** Which project the target lives in, by the cheapest lookup Railway offers for its kind of id. */
async function locateProject(op: Operation, cred: Credential, q: Query, located: Located): Promise<string | undefined> {
  const t = op.target!;
  const w = t.with;
  const given = str(w['projectId']);
  if (t.type === 'project') return t.id ?? given;
  if (given) return given;
  if (cred.kind === 'project') {
    // a project token belongs to exactly one project; the snapshot then shows how little it sees
    return str(obj((await q('ScopegateProjectToken', Q.PROJECT_TOKEN))['projectToken'])['projectId']);
  }
  const byEnvironment = async (envId: string): Promise<string | undefined> => str(obj((await q('ScopegateEnvironmentProject', Q.ENVIRONMENT_PROJECT, { id: envId }))['environment'])['projectId']);
  const byService = async (serviceId: string): Promise<string | undefined> => str(obj((await q('ScopegateServiceProject', Q.SERVICE_PROJECT, { id: serviceId }))['service'])['projectId']);
  const byVolumeInstance = async (id: string): Promise<string | undefined> => {
    const vi = obj((await q('ScopegateVolumeInstance', Q.VOLUME_INSTANCE, { id }))['volumeInstance']);
    located.volumeInstanceId = id;
    located.environmentId ??= str(vi['environmentId']);
    located.volumeId = str(vi['volumeId']);
    return str(obj(vi['environment'])['projectId']);
  };
  switch (t.type) {
    case 'environment':
      return t.id ? byEnvironment(t.id) : undefined;
    case 'service':
      return t.id ? byService(t.id) : undefined;
    case 'serviceInstance': {
      const sid = str(w['serviceId']) ?? t.id ?? undefined;
      return sid ? byService(sid) : undefined;
    }
    case 'deployment': {
      if (!t.id) return undefined;
      const d = obj((await q('ScopegateDeployment', Q.DEPLOYMENT, { id: t.id }))['deployment']);
      located.environmentId = str(d['environmentId']);
      located.serviceId = str(d['serviceId']);
      located.deploymentId = t.id;
      return str(d['projectId']);
    }
    case 'volumeInstance':
      return t.id ? byVolumeInstance(t.id) : undefined;
    case 'volumeBackup': {
      const vi = str(w['volumeInstanceId']);
      return vi ? byVolumeInstance(vi) : undefined;
    }
    case 'volume':
    case 'bucket': {
      // no volume(id) lookup exists: find the project that lists it among the credential's projects
      const d = await q('ScopegateProjectsIndex', Q.PROJECTS_INDEX);
      const conn = obj(d['projects']);
      if (obj(conn['pageInfo'])['hasNextPage'] === true) throw new LookupError('the credential sees more projects than one page; cannot search them all');
      const key = t.type === 'volume' ? 'volumes' : 'buckets';
      for (const e of (conn['edges'] as unknown[] | undefined) ?? []) {
        const node = obj(obj(e)['node']);
        const list = obj(node[key]);
        if (obj(list['pageInfo'])['hasNextPage'] === true) throw new LookupError(`project ${String(node['id'])} has more ${key} than one page`);
        if (((list['edges'] as unknown[] | undefined) ?? []).some((x) => obj(obj(x)['node'])['id'] === t.id)) return str(node['id']);
      }
      return undefined;
    }
    default: {
      const envId = str(w['environmentId']);
      if (envId) return byEnvironment(envId);
      const sid = str(w['serviceId']);
      if (sid) return byService(sid);
      const vi = str(w['volumeInstanceId']);
      if (vi) return byVolumeInstance(vi);
      return undefined;
    }
  }
}
