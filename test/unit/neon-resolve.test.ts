import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROVIDERS } from '../../src/providers/registry.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { neon } from '../../src/providers/neon/index.js';
import { computeTraffic, parseProject, reachInProject, toScope, type NeonProject } from '../../src/providers/neon/model.js';
import type { Operation } from '../../src/inspect/operation.js';
import { DEFAULT_TRAFFIC_IDLE_BYTES, describeScope, trafficState, type Scope } from '../../src/scope/scope.js';
import { ACME, acmeWorld, type NeonWorld } from '../fixtures/fake-neon/index.js';
import { ROOT } from '../helpers/proxy-process.js';

/** Neon's semantics as tables: what a call reaches in a project, and what the shipped policy makes of it. */
const NOW = Date.parse('2026-12-03T12:00:00Z');
const B = ACME.branch;

function projectOf(w: NeonWorld): NeonProject {
  return parseProject(
    { project: { id: w.project.id, name: w.project.name, history_retention_seconds: w.project.history_retention_seconds } },
    { branches: w.branches.map((b) => ({ id: b.id, name: b.name, parent_id: b.parent_id ?? undefined, default: b.default, protected: b.protected })), pagination: {} },
    { endpoints: w.endpoints.map((e) => ({ id: e.id, branch_id: e.branch_id, current_state: e.current_state, last_active: e.last_active, type: e.type })) },
    { snapshots: w.snapshots.map((s) => ({ ...s })) },
  )!;
}

async function opOf(method: string, path: string, body?: unknown): Promise<Operation> {
  const r = await neon.read({ method, url: `/api/v2${path}`, contentType: body === undefined ? undefined : 'application/json', body: Buffer.from(body === undefined ? '' : JSON.stringify(body)) });
  if (!r.ok) throw new Error(r.reason);
  return r.operations[0]!;
}

async function scopeOf(method: string, path: string, body?: unknown, w: NeonWorld = acmeWorld(NOW)): Promise<{ op: Operation; scope: Scope | { unresolved: string } }> {
  const op = await opOf(method, path, body);
  const p = projectOf(w);
  const reach = reachInProject(op, p);
  return { op, scope: 'unresolved' in reach ? reach : toScope(p, reach, NOW) };
}

const policy = parsePolicy(readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8'), 'default.yaml', PROVIDERS);
const P = `/projects/${ACME.project}`;

describe("Neon's live scope (pure semantics)", () => {
  it('a branch is an environment; the default branch is @primary and a protected branch @protected', async () => {
    const { scope } = await scopeOf('DELETE', `${P}/branches/${B.staging}`);
    expect(scope).toMatchObject({ status: 'resolved', environments: [{ id: B.staging, name: 'staging', protected: true }] });
    const main = await scopeOf('POST', `${P}/branches/${B.main}/restore`, { source_branch_id: B.main, source_timestamp: '2026-12-02T12:00:00Z' });
    expect(main.scope).toMatchObject({ environments: [{ id: B.main, name: 'main', primary: true }] });
  });
  it('a project delete reaches every branch', async () => {
    const { scope } = await scopeOf('DELETE', P);
    expect((scope as Scope).environments.map((e) => e.name).sort()).toEqual(['main', 'preview/pr-41', 'preview/pr-57', 'preview/pr-57-fix', 'staging']);
    expect((scope as Scope).shared).toBe(true);
  });
  it('computes are execution paths and request flows: state and last activity per branch', async () => {
    const { scope } = await scopeOf('DELETE', `${P}/branches/${B.pr41}`);
    const s = scope as Scope;
    expect(s.liveDeployments).toEqual([{ environment: { id: B.pr41, name: 'preview/pr-41' }, count: 0 }]);
    expect(s.facts!['computes']).toEqual([{ id: ACME.endpoint.pr41, branch: B.pr41, state: 'idle', lastActive: expect.any(String) }]);
    expect(describeScope(s)).toMatch(/compute ep-pr41-rw-55cc66 on preview\/pr-41 is idle, last active 9 days ago/);
    const main = (await scopeOf('DELETE', `${P}/branches/${B.main}`)).scope as Scope;
    expect(main.liveDeployments[0]!.count).toBe(1);
    expect(describeScope(main)).toMatch(/live deployments in main/);
  });
  it('children of the target are in the scope, and a delete Neon itself refuses says so', async () => {
    const s = (await scopeOf('DELETE', `${P}/branches/${B.pr57}`)).scope as Scope;
    expect(s.facts!['children']).toEqual([B.pr57fix]);
    expect(describeScope(s)).toMatch(/Neon itself refuses to delete a branch with children \(preview\/pr-57-fix\)/);
    expect(describeScope((await scopeOf('DELETE', `${P}/branches/${B.main}`)).scope as Scope)).toMatch(/refuses to delete the default branch/);
  });
  it('a restore overwrites the branch; the scope says from what, and whether the old state is kept', async () => {
    const s = (await scopeOf('POST', `${P}/branches/${B.main}/restore`, { source_branch_id: B.main, source_timestamp: '2026-12-02T12:00:00Z' })).scope as Scope;
    expect(describeScope(s)).toMatch(/overwrites main with its own history at 2026-12-02T12:00:00Z; the old state is not kept/);
    expect(describeScope(s)).toMatch(/Neon itself refuses this restore without preserve_under_name/);
    expect(describeScope(s)).toMatch(/restore window 1 day/);
    const reset = (await scopeOf('POST', `${P}/branches/${B.pr41}/restore`, { source_branch_id: B.main })).scope as Scope;
    expect(describeScope(reset)).toMatch(/overwrites preview\/pr-41 with branch main at its head; the old state is not kept/);
  });
  it('backups: the snapshots of the reached branches; unknown when they cannot be listed', async () => {
    expect(((await scopeOf('DELETE', `${P}/branches/${B.main}`)).scope as Scope).backups).toMatchObject({ count: 1, onTarget: false });
    expect(((await scopeOf('DELETE', `${P}/branches/${B.pr41}`)).scope as Scope).backups).toMatchObject({ count: 0 });
    const op = await opOf('DELETE', `${P}/branches/${B.pr41}`);
    const p = { ...projectOf(acmeWorld(NOW)), snapshots: null, snapshotsProblem: 'neon.snapshots: the provider answered HTTP 403' };
    const r = reachInProject(op, p);
    const s = toScope(p, r as Exclude<typeof r, { unresolved: string }>, NOW);
    expect(s.backups).toBeUndefined();
    expect(s.facts!['snapshots']).toMatch(/unknown: .*403/);
  });
  it('a compute is placed on its branch; a snapshot restore without finalizing reaches no existing branch', async () => {
    expect(((await scopeOf('POST', `${P}/endpoints/${ACME.endpoint.main}/suspend`)).scope as Scope).environments.map((e) => e.name)).toEqual(['main']);
    expect(((await scopeOf('POST', `${P}/snapshots/${ACME.snapshot.mainDaily}/restore`, {})).scope as Scope).environments).toEqual([]);
    expect(((await scopeOf('POST', `${P}/snapshots/${ACME.snapshot.mainDaily}/restore`, { finalize_restore: true })).scope as Scope).environments.map((e) => e.name)).toEqual(['main']);
  });
  it('ids Neon does not know leave the scope unresolved, with the reason', async () => {
    expect((await scopeOf('DELETE', `${P}/branches/br-nope-1`)).scope).toEqual({ unresolved: 'branch br-nope-1 is not in project acme-shop' });
    expect((await scopeOf('POST', `${P}/endpoints/ep-nope/suspend`)).scope).toMatchObject({ unresolved: expect.stringMatching(/compute ep-nope/) });
  });
  it('a shorter restore window is irreversible, a longer one a modify (compared live)', async () => {
    const shorter = (await scopeOf('PATCH', P, { project: { history_retention_seconds: 3600 } })).scope as Scope;
    expect(shorter.payloadClass?.class).toBe('destructive-irreversible');
    const longer = (await scopeOf('PATCH', P, { project: { history_retention_seconds: 7 * 86400 } })).scope as Scope;
    expect(longer.payloadClass?.class).toBe('modify');
  });
  it("request flows from computes: a branch suspended through the window is idle; a compute active in it makes the traffic unknown (Neon counts no requests)", () => {
    const p = projectOf(acmeWorld(NOW));
    const window = 15 * 60_000;
    const idle = computeTraffic(p, [B.pr41], window, NOW);
    expect(idle.environments).toEqual([{ environment: { id: B.pr41, name: 'preview/pr-41' }, requests: 0, bytesIn: 0, bytesOut: 0 }]);
    expect(trafficState(idle, DEFAULT_TRAFFIC_IDLE_BYTES)).toBe('idle');
    // a branch without computes serves nothing either
    expect(trafficState(computeTraffic(p, [B.pr57fix], window, NOW), DEFAULT_TRAFFIC_IDLE_BYTES)).toBe('idle');
    const busy = computeTraffic(p, [B.main], window, NOW);
    expect(busy.environments[0]!.unknown).toMatch(/compute ep-main-rw-11aa22 is active/);
    expect(trafficState(busy, DEFAULT_TRAFFIC_IDLE_BYTES)).toBe('unknown');
    // staging's compute is suspended but was active 2 h ago: idle over 15 min, not over 3 h
    expect(trafficState(computeTraffic(p, [B.staging], window, NOW), DEFAULT_TRAFFIC_IDLE_BYTES)).toBe('idle');
    expect(trafficState(computeTraffic(p, [B.staging], 3 * 3_600_000, NOW), DEFAULT_TRAFFIC_IDLE_BYTES)).toBe('unknown');
    // one busy branch among idle ones: never idle
    expect(trafficState(computeTraffic(p, [B.pr41, B.main], window, NOW), DEFAULT_TRAFFIC_IDLE_BYTES)).toBe('unknown');
  });
  it('a branch list that still has a cursor is no answer', () => {
    const many = { branches: Array.from({ length: 100 }, (_, i) => ({ id: `br-${i}`, name: `b${i}` })), pagination: { next: 'c2' } };
    const p = parseProject({ project: { id: 'p-1', name: 'p' } }, many, { endpoints: [] }, { snapshots: [] });
    expect(p!.partial).toMatch(/more branches than 20 pages/);
    expect(parseProject({ project: { id: 'p-1', name: 'p' } }, { ...many, pagination: {} }, { endpoints: [] }, { snapshots: [] })!.partial).toBeNull();
  });
});

describe('the shipped default table, row by row, for Neon', () => {
  const decide = async (method: string, path: string, body?: unknown, w?: NeonWorld): Promise<string> => {
    const { op, scope } = await scopeOf(method, path, body, w);
    const s: Scope = 'unresolved' in scope ? { status: 'unresolved', reason: scope.unresolved, environments: [], shared: false, liveDeployments: [] } : scope;
    const judged = s.payloadClass ? { ...op, class: s.payloadClass.class } : op;
    return evaluate(policy, { agent: 'anonymous', operation: judged, scope: op.class === 'read' || op.class === 'benign' ? { status: 'not-needed', environments: [], shared: false, liveDeployments: [] } : s }).action;
  };
  const unresolvedDecision = async (method: string, path: string, body?: unknown): Promise<string> => {
    const op = await opOf(method, path, body);
    return evaluate(policy, { agent: 'anonymous', operation: op, scope: { status: 'unresolved', reason: 'lookup timed out', environments: [], shared: false, liveDeployments: [] } }).action;
  };
  it('read: allow everywhere', async () => {
    expect(await decide('GET', `${P}/branches`)).toBe('allow');
    expect(await unresolvedDecision('GET', `${P}/branches/${B.main}`)).toBe('allow');
  });
  it('create / modify / deploy: allow when resolved, hold when unresolved', async () => {
    expect(await decide('POST', `${P}/branches`, { branch: { parent_id: B.main, name: 'preview/pr-99' } })).toBe('allow');
    expect(await decide('POST', `${P}/endpoints/${ACME.endpoint.main}/start`)).toBe('allow');
    expect(await decide('PATCH', `${P}/branches/${B.main}`, { branch: { name: 'trunk' } })).toBe('allow');
    expect(await unresolvedDecision('POST', `${P}/endpoints/${ACME.endpoint.main}/start`)).toBe('hold');
  });
  it('destructive-recoverable: allow on a preview branch, hold on a protected one (default or protected mark)', async () => {
    expect(await decide('POST', `${P}/endpoints/${ACME.endpoint.pr41}/suspend`)).toBe('allow');
    expect(await decide('POST', `${P}/endpoints/${ACME.endpoint.main}/suspend`)).toBe('hold');
    expect(await decide('POST', `${P}/endpoints/${ACME.endpoint.staging}/suspend`)).toBe('hold');
    expect(await decide('POST', `${P}/branches/${B.pr41}/restore`, { source_branch_id: B.main, preserve_under_name: 'pr41-old' })).toBe('allow');
  });
  it('destructive-irreversible: hold on a preview branch, deny on main, on staging (protected) and on the project', async () => {
    expect(await decide('DELETE', `${P}/branches/${B.pr41}`)).toBe('hold');
    expect(await decide('DELETE', `${P}/branches/${B.pr41}?hard_delete=true`)).toBe('hold');
    expect(await decide('DELETE', `${P}/branches/${B.main}`)).toBe('deny');
    expect(await decide('DELETE', `${P}/branches/${B.staging}`)).toBe('deny');
    expect(await decide('POST', `${P}/branches/${B.main}/restore`, { source_branch_id: B.main, source_timestamp: '2026-12-02T12:00:00Z' })).toBe('deny');
    expect(await decide('DELETE', P)).toBe('deny');
    expect(await unresolvedDecision('DELETE', `${P}/branches/${B.pr41}`)).toBe('hold');
  });
  it('a renamed default branch stays protected (@primary), an unprotected copy of staging does not', async () => {
    const w = acmeWorld(NOW);
    w.branches.find((b) => b.id === B.main)!.name = 'trunk';
    expect(await decide('DELETE', `${P}/branches/${B.main}`, undefined, w)).toBe('deny');
    w.branches.find((b) => b.id === B.staging)!.protected = false;
    expect(await decide('DELETE', `${P}/branches/${B.staging}`, undefined, w)).toBe('hold');
  });
  it('credential: hold everywhere (role password reset, API keys)', async () => {
    expect(await decide('POST', `${P}/branches/${B.pr41}/roles/shop_owner/reset_password`)).toBe('hold');
    expect(await decide('POST', '/api_keys', { key_name: 'agent' })).toBe('hold');
    expect(await decide('DELETE', '/api_keys/1')).toBe('hold');
  });
  it('benign: allow; unknown: hold', async () => {
    expect(await decide('POST', `${P}/branches/${B.pr41}/auth/send_test_email`, {})).toBe('allow');
    const unknown = await opOf('POST', `${P}/branches/${B.pr41}/self_destruct`);
    expect(evaluate(policy, { agent: 'a', operation: unknown, scope: { status: 'unresolved', reason: 'no target', environments: [], shared: false, liveDeployments: [] } }).action).toBe('hold');
  });
});
