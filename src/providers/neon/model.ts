import type { Operation, OperationClass } from '../../inspect/operation.js';
import type { EnvironmentRef, EnvironmentTraffic, Scope, Traffic } from '../../scope/scope.js';
import { argAt } from './classify.js';

/**
 * A Neon project as its API described it at one moment: plain data parsed from the answers of
 * GET /projects/{id}, /branches, /endpoints and /snapshots, and pure functions that compute what
 * an operation reaches in it. No sockets here, so Neon's semantics are tested with tables.
 */
export interface NeonProject {
  project: { id: string; name: string; orgId: string | null; historyRetentionSeconds: number | null };
  branches: { id: string; name: string; parentId: string | null; isDefault: boolean; isProtected: boolean }[];
  computes: { id: string; branchId: string; state: string; lastActive: string | null; type: string }[];
  /** null when the snapshots could not be listed (a beta feature; not every account has it). */
  snapshots: { id: string; name: string; sourceBranchId: string | null; createdAt: string; expiresAt: string | null }[] | null;
  snapshotsProblem?: string;
  /** Why the view is incomplete, or null. */
  partial: string | null;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);

export const BRANCH_PAGE = 10000;
/** Pages of branches followed before the view counts as partial (Neon may cap a page below `limit`). */
export const MAX_BRANCH_PAGES = 20;

export function parseProject(project: Json, branches: Json, endpoints: Json, snapshots: Json | { problem: string }): NeonProject | null {
  const p = obj(project['project']);
  const id = str(p['id']);
  if (!id) return null;
  const b = list(branches['branches']);
  // the resolver follows the cursor; a cursor still left on the last page it read means branches unseen
  const partial = b.length > 0 && str(obj(branches['pagination'])['next']) ? `more branches than ${MAX_BRANCH_PAGES} pages` : null;
  return {
    project: { id, name: str(p['name']) ?? id, orgId: str(p['org_id']), historyRetentionSeconds: typeof p['history_retention_seconds'] === 'number' ? (p['history_retention_seconds'] as number) : null },
    branches: b.filter((x) => str(x['id'])).map((x) => ({ id: str(x['id'])!, name: str(x['name']) ?? str(x['id'])!, parentId: str(x['parent_id']), isDefault: x['default'] === true || x['primary'] === true, isProtected: x['protected'] === true })),
    computes: list(endpoints['endpoints']).filter((e) => str(e['id'])).map((e) => ({ id: str(e['id'])!, branchId: str(e['branch_id']) ?? '', state: str(e['current_state']) ?? 'unknown', lastActive: str(e['last_active']), type: str(e['type']) ?? 'read_write' })),
    snapshots: 'problem' in snapshots ? null : list(snapshots['snapshots']).map((s) => ({ id: str(s['id']) ?? '', name: str(s['name']) ?? '', sourceBranchId: str(s['source_branch_id']), createdAt: str(s['created_at']) ?? '', expiresAt: str(s['expires_at']) })),
    ...('problem' in snapshots ? { snapshotsProblem: String(snapshots['problem']) } : {}),
    partial,
  };
}

export function envRef(p: NeonProject, id: string): EnvironmentRef | null {
  const b = p.branches.find((x) => x.id === id);
  if (!b) return null;
  return { id: b.id, name: b.name, ...(b.isDefault ? { primary: true } : {}), ...(b.isProtected ? { protected: true } : {}) };
}

/** What an operation reaches in a project: the branches (environments), the resource, and what Neon itself will refuse. */
export type Reach = { branchIds: string[]; resource: { type: string; id: string; name?: string }; notes: string[]; payloadClass?: { class: OperationClass; reason: string } } | { unresolved: string };

const s = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Neon's semantics, as a pure function of the operation and the project. */
export function reachInProject(op: Operation, p: NeonProject): Reach {
  if (!op.target) return { unresolved: `${op.name} names no resource scopegate can look up` };
  const t = op.target;
  const notes: string[] = [];
  const branch = (id: string | undefined): NeonProject['branches'][number] | undefined => (id ? p.branches.find((b) => b.id === id) : undefined);
  const childrenOf = (id: string): string[] => p.branches.filter((b) => b.parentId === id).map((b) => b.name);
  switch (op.reach) {
    case 'project':
      // a project-level call (delete, settings, default branch) applies to every branch
      if (op.name === 'updateProject') {
        const h = argAt(op.args, 'body.project.history_retention_seconds');
        if (typeof h === 'number' && p.project.historyRetentionSeconds !== null) {
          const payloadClass: { class: OperationClass; reason: string } =
            h < p.project.historyRetentionSeconds
              ? { class: 'destructive-irreversible', reason: `history_retention_seconds ${h} shortens the restore window from ${p.project.historyRetentionSeconds} s, discarding history` }
              : { class: 'modify', reason: `history_retention_seconds ${h} does not shorten the restore window (${p.project.historyRetentionSeconds} s now)` };
          return { branchIds: p.branches.map((b) => b.id), resource: { type: 'project', id: p.project.id, name: p.project.name }, notes, payloadClass };
        }
      }
      return { branchIds: p.branches.map((b) => b.id), resource: { type: 'project', id: p.project.id, name: p.project.name }, notes };
    case 'new-branch': {
      const parentId = s(t.with['parentBranchId']) ?? p.branches.find((b) => b.isDefault)?.id;
      const parent = branch(parentId);
      if (parentId && !parent) return { unresolved: `parent branch ${parentId} is not in project ${p.project.name}` };
      if (parent) notes.push(`a new branch from ${parent.name} (read, not changed)`);
      return { branchIds: [], resource: { type: 'project', id: p.project.id, name: p.project.name }, notes };
    }
    case 'endpoint': {
      const c = p.computes.find((x) => x.id === t.id);
      if (!c) return { unresolved: `compute ${t.id ?? '(absent)'} is not in project ${p.project.name}` };
      if (!branch(c.branchId)) return { unresolved: `compute ${c.id}'s branch ${c.branchId} is not in project ${p.project.name}` };
      return { branchIds: [c.branchId], resource: { type: 'endpoint', id: c.id }, notes };
    }
    case 'snapshot': {
      if (!p.snapshots) return { unresolved: `the project's snapshots cannot be listed: ${p.snapshotsProblem ?? 'no answer'}` };
      const snap = p.snapshots.find((x) => x.id === t.id);
      if (!snap) return { unresolved: `snapshot ${t.id ?? '(absent)'} is not in project ${p.project.name}` };
      const into = op.name === 'restoreSnapshot' ? (s(argAt(op.args, 'body.target_branch_id')) ?? snap.sourceBranchId) : snap.sourceBranchId;
      if (op.name === 'restoreSnapshot' && argAt(op.args, 'body.finalize_restore') !== true) {
        notes.push(`restores into a new branch; ${into ? branch(into)?.name ?? into : 'the source branch'} is not changed until the restore is finalized`);
        return { branchIds: [], resource: { type: 'snapshot', id: snap.id, name: snap.name }, notes };
      }
      if (into && !branch(into)) return { unresolved: `snapshot ${snap.id}'s branch ${into} is no longer in project ${p.project.name}` };
      return { branchIds: into ? [into] : [], resource: { type: 'snapshot', id: snap.id, name: snap.name }, notes };
    }
    default: {
      // a branch (or something inside it: a database, a role, a bucket, a compute being created)
      const b = branch(t.id ?? undefined);
      if (!b) return { unresolved: `branch ${t.id ?? '(absent)'} is not in project ${p.project.name}` };
      const children = childrenOf(b.id);
      if (children.length > 0) notes.push(`children: ${children.join(', ')}`);
      if (op.name === 'deleteProjectBranch') {
        if (children.length > 0) notes.push(`Neon itself refuses to delete a branch with children (${children.join(', ')})`);
        if (b.isDefault) notes.push('Neon itself refuses to delete the default branch');
      }
      if (op.name === 'restoreProjectBranch') {
        const src = s(argAt(op.args, 'body.source_branch_id'));
        const preserve = s(argAt(op.args, 'body.preserve_under_name'));
        const from = src === b.id ? 'its own history' : src ? `branch ${branch(src)?.name ?? src}` : '(no source)';
        const at = s(argAt(op.args, 'body.source_timestamp')) ?? s(argAt(op.args, 'body.source_lsn'));
        notes.push(`overwrites ${b.name} with ${from}${at ? ` at ${at}` : ' at its head'}${preserve ? `; the old state is kept as ${preserve}` : '; the old state is not kept'}`);
        if (!preserve && (children.length > 0 || src === b.id)) notes.push('Neon itself refuses this restore without preserve_under_name (the branch has children or restores from its own history)');
      }
      return { branchIds: [b.id], resource: { type: 'branch', id: b.id, name: b.name }, notes };
    }
  }
}

/** The live scope of a reach: environments, live computes (execution paths), compute activity (request flows), backups. */
export function toScope(p: NeonProject, reach: Exclude<Reach, { unresolved: string }>, now = Date.now()): Scope {
  const environments = reach.branchIds.map((id) => envRef(p, id)).filter((e): e is EnvironmentRef => e !== null);
  const computes = p.computes.filter((c) => reach.branchIds.includes(c.branchId));
  const liveDeployments = environments.map((e) => ({ environment: e, count: computes.filter((c) => c.branchId === e.id && c.state === 'active').length }));
  const notes = [...reach.notes];
  for (const c of computes) {
    const ago = c.lastActive ? agoText(now - Date.parse(c.lastActive)) : null;
    notes.push(`compute ${c.id} on ${envRef(p, c.branchId)?.name ?? c.branchId} is ${c.state}${ago ? `, last active ${ago}` : ''}`);
  }
  const snaps = p.snapshots?.filter((x) => x.sourceBranchId !== null && reach.branchIds.includes(x.sourceBranchId)) ?? null;
  const times = (snaps ?? []).map((x) => x.createdAt).filter((x) => x !== '').sort();
  if (p.project.historyRetentionSeconds !== null && reach.branchIds.length > 0) notes.push(`restore window ${formatSeconds(p.project.historyRetentionSeconds)}`);
  return {
    status: 'resolved',
    resource: reach.resource,
    project: { id: p.project.id, name: p.project.name },
    environments,
    shared: environments.length > 1,
    liveDeployments,
    ...(snaps ? { backups: { count: snaps.length, onTarget: false, ...(times.length > 0 ? { newestAt: times[times.length - 1]! } : {}) } } : {}),
    facts: {
      notes,
      computes: computes.map((c) => ({ id: c.id, branch: c.branchId, state: c.state, lastActive: c.lastActive })),
      restoreWindowSeconds: p.project.historyRetentionSeconds,
      ...(snaps === null ? { snapshots: `unknown: ${p.snapshotsProblem ?? 'not listed'}` } : {}),
      children: reach.branchIds.flatMap((id) => p.branches.filter((b) => b.parentId === id).map((b) => b.id)),
    },
    ...(reach.payloadClass ? { payloadClass: reach.payloadClass } : {}),
    resolvedAt: new Date(now).toISOString(),
  };
}

function agoText(ms: number): string {
  if (!Number.isFinite(ms)) return 'at an unknown time';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function formatSeconds(s: number): string {
  return s % 86400 === 0 && s > 0 ? `${s / 86400} day${s === 86400 ? '' : 's'}` : s % 3600 === 0 && s > 0 ? `${s / 3600} h` : `${s} s`;
}

/**
 * Request flows, as far as Neon says them: its computes' state and last activity, not requests or
 * bytes. A branch whose computes were all suspended through the whole window (or that has none)
 * served nothing in it: zero requests, zero bytes, which is true, not assumed. A compute active or
 * active within the window served something Neon does not count: that branch's figures are
 * unknown (so no traffic condition matches it), with the compute named in the reason.
 */
export function computeTraffic(p: NeonProject, branchIds: readonly string[], windowMs: number, now: number): Traffic {
  const since = now - windowMs;
  const environments: EnvironmentTraffic[] = [];
  for (const id of branchIds) {
    const environment = envRef(p, id);
    if (!environment) continue;
    const computes = p.computes.filter((c) => c.branchId === id);
    const busy = computes.filter((c) => c.state !== 'idle' || c.lastActive === null || !(Date.parse(c.lastActive) < since));
    if (busy.length === 0) {
      environments.push({ environment, requests: 0, bytesIn: 0, bytesOut: 0 });
    } else {
      const c = busy[0]!;
      environments.push({ environment, unknown: `compute ${c.id} is ${c.state}${c.lastActive ? `, last active ${c.lastActive}` : ''}; Neon reports compute activity, not requests or bytes` });
    }
  }
  return { windowSeconds: Math.round(windowMs / 1000), measuredAt: new Date(now).toISOString(), environments };
}
