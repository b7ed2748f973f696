import type { IncomingHttpHeaders } from 'node:http';
import type { Operation, OperationClass } from '../../inspect/operation.js';
import { LookupError, errorMessage } from '../../errors.js';
import { credentialId, type Credential, type LiveLookups, type LookupRecord } from '../../scope/live-lookups.js';
import { unresolved, type Scope } from '../../scope/scope.js';
import { NEON_API_BASE } from './catalogue.js';
import { BRANCH_PAGE, MAX_BRANCH_PAGES, computeTraffic, parseProject, reachInProject, toScope } from './model.js';

/** Neon's API key travels as `Authorization: Bearer <key>`. */
export function neonCredential(headers: IncomingHttpHeaders): Credential | null {
  const auth = headers['authorization'];
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m ? { header: 'authorization', value: `Bearer ${m[1]}`, kind: 'bearer', id: credentialId(m[1]!) } : null;
}

export interface NeonResolveContext {
  host: string;
  port: number;
  lookups: LiveLookups;
  signal: AbortSignal;
  agentCredential: Credential | null;
  resolverCredential: Credential | null;
  /** How far back request flows look (--traffic-window); absent or 0: not reported. */
  trafficWindowMs?: number;
  now?: number;
}

const DANGEROUS: ReadonlySet<OperationClass> = new Set(['destructive-recoverable', 'destructive-irreversible', 'credential', 'unknown']);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Ask Neon, live, what the operation reaches: the project, its branch tree, its computes and their
 * activity, its snapshots and restore window. Every failure is an unresolved scope with the
 * reason; nothing is assumed.
 */
export async function resolveNeon(op: Operation, ctx: NeonResolveContext): Promise<Scope> {
  const log: LookupRecord[] = [];
  const done = (scope: Scope): Scope => ({ ...scope, lookups: log.map((l) => `${l.name}${l.cached ? ' (cached)' : ` ${l.ms}ms`}`) });
  if (!op.target) return done(unresolved(`${op.name} names no resource scopegate can look up`));
  const t = op.target;
  if (op.reach === 'account' || op.reach === 'organization') {
    // above every project: no branch is reached by the call itself
    const id = t.id ?? (op.reach === 'account' ? 'the account' : '(absent)');
    return done({ status: 'resolved', resource: { type: op.reach, id }, environments: [], shared: false, liveDeployments: [], facts: { notes: [`${op.reach}-level: changes no branch of a project directly`] }, resolvedAt: new Date(ctx.now ?? Date.now()).toISOString() });
  }
  const cred = ctx.resolverCredential ?? ctx.agentCredential;
  if (!cred) return done(unresolved('the call carries no Neon API key to look the target up with'));
  const projectId = t.type === 'project' ? (t.id ?? str(t.with['projectId'])) : str(t.with['projectId']);
  if (!projectId) return done(unresolved(`cannot tell which project ${t.type} ${t.id ?? '(absent)'} belongs to`));
  if (!/^[a-z0-9-]{1,60}$/.test(projectId)) return done(unresolved(`project id ${projectId.slice(0, 60)} is not a Neon id`));
  const fresh = DANGEROUS.has(op.class);
  const get = (name: string, path: string): Promise<Record<string, unknown>> => ctx.lookups.get(ctx.host, ctx.port, `${NEON_API_BASE}${path}`, cred, name, { signal: ctx.signal, fresh, log });
  try {
    const base = `/projects/${encodeURIComponent(projectId)}`;
    const [project, branches, endpoints, snapshots] = await Promise.all([
      get('neon.project', base),
      allBranches(get, base),
      get('neon.endpoints', `${base}/endpoints`),
      // snapshots are a beta feature: without them the backups are unknown, not the whole scope
      get('neon.snapshots', `${base}/snapshots`).catch((e: unknown) => ({ problem: e instanceof LookupError ? e.message : errorMessage(e) })),
    ]);
    const p = parseProject(project, branches, endpoints, snapshots);
    if (!p) return done(unresolved(`project ${projectId} is not visible to this key`));
    if (p.partial) return done(unresolved(`partial view of project ${p.project.name}: ${p.partial}`));
    const reach = reachInProject(op, p);
    if ('unresolved' in reach) return done(unresolved(reach.unresolved));
    const scope = toScope(p, reach, ctx.now);
    if (ctx.trafficWindowMs && ctx.trafficWindowMs > 0 && reach.branchIds.length > 0) scope.traffic = computeTraffic(p, reach.branchIds, ctx.trafficWindowMs, ctx.now ?? Date.now());
    // databases and roles of a branch about to be destroyed, reset or re-keyed: what a person weighs
    if (reach.resource.type === 'branch' && (op.class === 'destructive-irreversible' || op.class === 'destructive-recoverable' || op.class === 'credential')) {
      const b = reach.resource.id;
      const [dbs, roles] = await Promise.all([get('neon.databases', `${base}/branches/${b}/databases`), get('neon.roles', `${base}/branches/${b}/roles`)]);
      const names = (v: unknown): string[] => (Array.isArray(v) ? v.map((x) => str((x as Record<string, unknown>)['name']) ?? '').filter((x) => x !== '') : []);
      const databases = names(dbs['databases']);
      const roleNames = names(roles['roles']);
      scope.facts = { ...scope.facts, databases, roles: roleNames, notes: [...((scope.facts?.['notes'] as string[]) ?? []), `databases ${databases.join(', ') || 'none'}; roles ${roleNames.join(', ') || 'none'}`] };
    }
    return done(scope);
  } catch (err) {
    return done(unresolved(`lookup failed: ${err instanceof LookupError ? err.message : errorMessage(err)}`));
  }
}

/**
 * Every branch of the project, following Neon's cursor: a page may hold fewer than `limit` (Neon
 * caps pages), and a last page may still carry a cursor (an empty page ends the walk, as neonctl's
 * does). Past MAX_BRANCH_PAGES the answer keeps its cursor, and the view counts as partial.
 */
async function allBranches(get: (name: string, path: string) => Promise<Record<string, unknown>>, base: string): Promise<Record<string, unknown>> {
  const branches: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_BRANCH_PAGES; page++) {
    const d = await get('neon.branches', `${base}/branches?limit=${BRANCH_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    const list = Array.isArray(d['branches']) ? (d['branches'] as unknown[]) : [];
    branches.push(...list);
    const next = (d['pagination'] as Record<string, unknown> | undefined)?.['next'];
    if (typeof next !== 'string' || next === '' || list.length === 0 || next === cursor) return { branches, pagination: {} };
    cursor = next;
  }
  return { branches, pagination: { next: cursor } };
}
