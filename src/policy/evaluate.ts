import type { Operation } from '../inspect/operation.js';
import { DEFAULT_TRAFFIC_IDLE_BYTES, activeEnvironments, bytesText, durationText, trafficState, type Scope } from '../scope/scope.js';
import type { Action, EnvSet, Policy, Rule, ScopeMatch } from './policy.js';

/** What the policy says about one operation, and why, in words the agent and a person read. */
export interface Verdict {
  action: Action;
  /** The rule's name, or `default:no_match` / `default:unknown` / `default:unresolved`. */
  rule: string;
  /** Each condition that held, as a short phrase. */
  because: string[];
}

export interface EvaluationInput {
  agent: string;
  operation: Operation;
  scope: Scope;
}

/** A set matches an environment by name (any case), by id, or — with the members "@primary" / "@protected" — by the provider's own marks. */
const inSet = (set: EnvSet, env: { id: string; name: string; primary?: boolean; protected?: boolean }): boolean =>
  set.members.has(env.name.toLowerCase()) ||
  set.members.has(env.id.toLowerCase()) ||
  (env.primary === true && set.members.has('@primary')) ||
  (env.protected === true && set.members.has('@protected'));

/** Does the scope satisfy the rule's scope conditions? Each condition that holds says so in `because`. */
/** What a rule that did not match leaves behind: whether only unknown traffic stood in its way. */
export interface MatchNotes {
  trafficUnknown?: boolean;
}

function scopeMatches(m: ScopeMatch, scope: Scope, because: string[], idleBytes: number, notes: MatchNotes): boolean {
  const resolved = scope.status === 'resolved';
  if (m.resolved !== undefined) {
    // reads need no lookup: "not-needed" counts as resolved for them
    const isResolved = scope.status !== 'unresolved';
    if (m.resolved !== isResolved) return false;
    because.push(isResolved ? 'the scope was resolved' : `the scope is unresolved (${scope.reason ?? 'no lookup'})`);
  }
  const asks = m.anyIn || m.allIn || m.only || m.noneIn || m.shared !== undefined || m.liveDeployments !== undefined || m.backups || m.project || m.traffic;
  if (!asks) return true;
  // facts of a scope nobody could see never match: the rule simply does not apply
  if (!resolved) return false;
  const envs = scope.environments;
  const names = (xs: { name: string }[]): string => xs.map((e) => e.name).join(', ');
  if (m.anyIn) {
    const hit = envs.filter((e) => inSet(m.anyIn!, e));
    if (hit.length === 0) return false;
    because.push(`it reaches ${names(hit)}, in ${m.anyIn.label}`);
  }
  if (m.allIn) {
    if (envs.length === 0 || !envs.every((e) => inSet(m.allIn!, e))) return false;
    because.push(`every environment it reaches (${names(envs)}) is in ${m.allIn.label}`);
  }
  if (m.only) {
    if (envs.length === 0 || !envs.every((e) => inSet(m.only!, e))) return false;
    because.push(`it reaches only ${names(envs)}`);
  }
  if (m.noneIn) {
    if (envs.some((e) => inSet(m.noneIn!, e))) return false;
    because.push(`it reaches nothing in ${m.noneIn.label}`);
  }
  if (m.shared !== undefined) {
    if (scope.shared !== m.shared) return false;
    because.push(scope.shared ? `the target is shared by ${names(envs)}` : 'the target belongs to one environment');
  }
  if (m.liveDeployments !== undefined) {
    const live = scope.liveDeployments.filter((d) => d.count > 0);
    if ((live.length > 0) !== m.liveDeployments) return false;
    because.push(live.length > 0 ? `live deployments in ${live.map((d) => d.environment.name).join(', ')}` : 'no live deployments');
  }
  if (m.backups) {
    const b = scope.backups ?? { count: 0, onTarget: false };
    if (m.backups === 'none') {
      if (b.count > 0) return false;
      because.push('there are no backups');
    } else if (m.backups === 'present') {
      if (b.count === 0) return false;
      because.push(`${b.count} backup(s) exist`);
    } else if (m.backups === 'on_target_only') {
      if (b.count === 0 || !b.onTarget) return false;
      because.push(`its ${b.count} backup(s) are stored on the target itself`);
    } else {
      const newest = b.newestAt ? Date.parse(b.newestAt) : NaN;
      const fresh = Number.isFinite(newest) && Date.now() - newest <= m.backups.olderThanMs;
      if (fresh) return false;
      because.push(b.count === 0 ? 'there are no backups' : `the newest backup is older than ${m.backups.text}`);
    }
  }
  if (m.project) {
    const p = scope.project;
    if (!p || !(m.project.has(p.id) || (p.name !== undefined && m.project.has(p.name)))) return false;
    because.push(`project ${p.name ?? p.id}`);
  }
  if (m.traffic) {
    // unknown traffic matches neither: the next rule, or the unresolved default, decides
    const state = trafficState(scope.traffic, idleBytes);
    if (state === 'unknown') notes.trafficUnknown = true;
    if (state !== m.traffic) return false;
    because.push(
      state === 'active'
        ? `it is in use: traffic in ${activeEnvironments(scope.traffic!, idleBytes).map((e) => e.name).join(', ')}`
        : `it is idle: no HTTP requests and under ${bytesText(idleBytes)} of network traffic in the last ${durationText(scope.traffic!.windowSeconds)}, in every environment it reaches`,
    );
  }
  return true;
}

/** Does `rule` match? Fills `because` with the reasons when it does. */
export function ruleMatches(rule: Rule, input: EvaluationInput, because: string[], idleBytes = DEFAULT_TRAFFIC_IDLE_BYTES, notes: MatchNotes = {}): boolean {
  const op = input.operation;
  if (rule.providers && !rule.providers.has(op.provider)) return false;
  if (rule.types && !rule.types.has(op.type)) return false;
  if (rule.operations) {
    if (!rule.operations.has(op.name)) return false;
    because.push(`operation ${op.name}`);
  }
  if (rule.classes) {
    if (!rule.classes.has(op.class)) return false;
    because.push(`class ${op.class}`);
  }
  if (rule.agents) {
    if (!rule.agents.has(input.agent)) return false;
    because.push(`agent ${input.agent}`);
  }
  if (rule.scope && !scopeMatches(rule.scope, input.scope, because, idleBytes, notes)) return false;
  return true;
}

/**
 * First matching rule wins. When none matches, the named defaults decide, each failing closed:
 * unknown operations and unresolved scopes are held unless the policy says otherwise.
 */
export function evaluate(policy: Policy, input: EvaluationInput): Verdict {
  // a rule that would have matched but for traffic nobody could report: that part of the scope is unresolved
  let trafficBlocked: string | undefined;
  for (const rule of policy.rules) {
    const because: string[] = [];
    const notes: MatchNotes = {};
    if (ruleMatches(rule, input, because, policy.trafficIdleBytes, notes)) return { action: rule.action, rule: rule.name, because };
    if (notes.trafficUnknown) trafficBlocked ??= rule.name;
  }
  if (input.operation.class === 'unknown') {
    return { action: policy.defaults.unknown, rule: 'default:unknown', because: [input.operation.classReason ?? 'the operation is unknown'] };
  }
  if (input.scope.status === 'unresolved') {
    return { action: policy.defaults.unresolved, rule: 'default:unresolved', because: [`the scope is unresolved (${input.scope.reason ?? 'no lookup'})`] };
  }
  if (trafficBlocked) {
    const why = input.scope.traffic?.environments.map((e) => e.unknown).filter(Boolean).join('; ') || 'it was not looked up';
    return { action: policy.defaults.unresolved, rule: 'default:unresolved', because: [`the traffic is unknown (${why}), and rule ${trafficBlocked} asks for it`] };
  }
  return { action: policy.defaults.noMatch, rule: 'default:no_match', because: ['no rule matched'] };
}

const STRICTNESS: Record<Action, number> = { allow: 0, hold: 1, deny: 2 };

/** The strictest verdict wins: deny over hold over allow. Ties go to the first operation. */
export function strictest<T extends { verdict: Verdict }>(items: readonly T[]): T {
  let worst = items[0]!;
  for (const it of items) if (STRICTNESS[it.verdict.action] > STRICTNESS[worst.verdict.action]) worst = it;
  return worst;
}

/** Would any rule, or the defaults, look at the scope for this operation? Reads never need a lookup. */
export function needsScope(op: Operation): boolean {
  return op.effect === 'write' && op.class !== 'read' && op.class !== 'benign';
}
