import type { IncomingHttpHeaders } from 'node:http';
import { findSecret, rawHeadersOf, secretScanner } from '../custody/secret-scan.js';
import { callIdentity } from '../gate/call-identity.js';
import { outsideCeiling, custodyOf, type Custody } from '../gate/custody.js';
import { asCaller, decideCall } from '../gate/decide.js';
import { decisionWhy, operationText, ruleText, type Decision } from '../gate/decision.js';
import type { GateDeps } from '../gate/gate.js';
import { inspectRequest } from '../inspect/inspect-request.js';
import type { Operation } from '../inspect/operation.js';
import { guardedBy } from '../policy/policy.js';
import type { Action } from '../policy/policy.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { ConnectionContext } from '../proxy/context.js';
import { describeScope, type Scope } from '../scope/scope.js';
import { CHECK_USAGE, type CheckInput } from './input.js';

/**
 * A check: what the gate would decide for a call, by the gate's own stages — custody (who the
 * caller is, with the same tokens), the provider adapter's read, the decide stage with live
 * lookups — and none of what acts: nothing is forwarded, no hold is made, no approval is used,
 * nothing goes to the audit trail.
 */

export type PreflightDeps = Pick<GateDeps, 'policy' | 'providers' | 'lookups' | 'lookupTimeoutMs' | 'trafficWindowMs' | 'placeholders' | 'inspections' | 'holds' | 'logger' | 'alert'>;

/** A live scope as an agent reads it: the one-line summary first, then the facts. */
export interface ScopeView {
  status: Scope['status'];
  summary: string;
  reason?: string;
  resource?: { type: string; id: string; name?: string };
  project?: { id: string; name?: string };
  environments: string[];
  shared: boolean;
  liveDeployments: { environment: string; count: number; replicas?: number }[];
  backups?: Scope['backups'];
  contents?: Scope['contents'];
  /** Recent traffic per reached environment (requests, bytes) and its verdict under the policy: active, idle or unknown. */
  traffic?: Scope['traffic'];
  facts?: Record<string, unknown>;
}

export interface CheckedOperation {
  operation: string;
  alias: string | null;
  class: string;
  target: { type: string; id: string | null } | null;
  scope: ScopeView;
  decision: Action;
  rule: string;
  reason: string;
}

export interface CheckAnswer {
  /** What would happen to the call as a whole: the strictest of its operations. */
  decision: Action;
  rule: string;
  reason: string;
  /** What to do, in one paragraph. */
  message: string;
  /** Who the call would be from (a placeholder's agent, the Proxy-Authorization agent, or anonymous). */
  agent: string;
  decisionId: string;
  operations: CheckedOperation[];
  /** Monitor mode: the policy's verdict, which is logged but not enforced. */
  wouldBe?: Action;
  /** An approval that covers exactly this call: the call goes through once, until then. */
  approval?: { holdId: string; approvedBy: string | null; expiresAt: string };
}

export type CheckResult = { ok: true; answer: CheckAnswer; decision: Decision } | { ok: false; status: 400; message: string };

export function scopeView(s: Scope): ScopeView {
  return {
    status: s.status,
    summary: describeScope(s),
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.resource ? { resource: s.resource } : {}),
    ...(s.project ? { project: s.project } : {}),
    environments: s.environments.map((e) => e.name),
    shared: s.shared,
    liveDeployments: s.liveDeployments.map(({ environment, ...rest }) => ({ environment: environment.name, ...rest })),
    ...(s.backups ? { backups: s.backups } : {}),
    ...(s.contents ? { contents: s.contents } : {}),
    ...(s.traffic ? { traffic: s.traffic } : {}),
    ...(s.facts ? { facts: s.facts } : {}),
  };
}

/**
 * The provider headers a call carries: those given, or else the token the caller named without a
 * header (X-Scopegate-Token), put where the provider's calls carry it.
 */
export function withCallerToken(adapter: ProviderAdapter, headers: IncomingHttpHeaders, token: string | undefined): IncomingHttpHeaders {
  if (!token || !adapter.tokenHeaders) return headers;
  const carried = adapter.secretHeaders.some((h) => headers[h] !== undefined);
  return carried ? headers : { ...headers, ...adapter.tokenHeaders(token) };
}

/** The adapter guarding the host under the policy in force, or a message that says which hosts are. */
export function guardingAdapter(deps: PreflightDeps, host: string): { adapter: ProviderAdapter } | { message: string } {
  const p = deps.policy();
  const guarded = guardedBy(p, host);
  const adapter = guarded ? deps.providers.get(guarded.name) : undefined;
  if (adapter) return { adapter };
  const hosts = p.providers.flatMap((g) => g.hosts);
  return { message: `${host} is not guarded by this policy, so scopegate does not judge its calls (they are tunnelled as egress allows); the guarded hosts are ${hosts.join(', ') || 'none'}; ${CHECK_USAGE}` };
}

export async function checkCall(deps: PreflightDeps, ctx: ConnectionContext, input: CheckInput, decisionId: string, token?: string): Promise<CheckResult> {
  const guarding = guardingAdapter(deps, input.host);
  if ('message' in guarding) return { ok: false, status: 400, message: guarding.message };
  const { adapter } = guarding;
  const target = { ...ctx, target: { host: input.host, port: input.port }, provider: adapter.name };
  const sent = withCallerToken(adapter, input.headers, token);
  const policy = deps.policy();

  // custody: the caller is who its real call would be, by the same tokens
  const custody = await custodyOf(policy, adapter, deps.placeholders, sent, ctx.agent);
  if (custody.kind === 'refuse') {
    if (custody.tokenHash) realToken(deps, decisionId, target, custody.reason, custody.tokenHash);
    return refused(ctx.agent, decisionId, custody.rule, custody.reason);
  }
  if (custody.kind === 'report') realToken(deps, decisionId, target, custody.reason, custody.tokenHash);
  const { caller, headers } = asCaller(target, custody, sent);

  // read: the provider adapter's own reading of the body, as the gate reads a real call
  const inspection = await inspectRequest(adapter, { method: input.method, url: input.path, contentType: headerText(sent['content-type']), body: input.body }, deps.inspections);
  if (!inspection.ok) {
    return { ok: false, status: 400, message: `scopegate cannot judge this call as described (${inspection.reason}), and would refuse the real call as SCOPEGATE_UNJUDGEABLE; ${CHECK_USAGE}` };
  }
  const { operations } = inspection;
  const leak = secretIn(deps, custody, adapter, sent, input);
  if (leak) return refused(caller.agent, decisionId, 'secret-egress', leak);

  // decide: the gate's own stage, live lookups through the same cache and joins as real calls
  const decision = await decideCall(deps, adapter, caller, custody, headers, operations);
  const answer = answerOf(decision, caller.agent, decisionId, custody);
  if (decision.kind === 'hold' && deps.holds) {
    const approval = await approvalFor(deps, adapter, caller, input.path, headers, operations, decision);
    if (approval) {
      answer.approval = approval;
      answer.message = `${operationText(decision.operation!)}: hold ${approval.holdId} was approved${approval.approvedBy ? ` by ${approval.approvedBy}` : ''} for exactly this call; made now (before ${approval.expiresAt}), it goes through once. ${decisionWhy(decision)}.`;
    }
  }
  return { ok: true, answer, decision };
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function refused(agent: string, decisionId: string, rule: string, reason: string): CheckResult {
  const decision: Decision = { kind: 'deny', stage: 'admit', rule, reason };
  return { ok: true, decision, answer: { decision: 'deny', rule, reason, message: `scopegate would refuse this call before reading it: ${reason}`, agent, decisionId, operations: [] } };
}

/** A real provider token in an agent's hands: said at once to whoever watches (the webhooks, the log), as a real call would; not audited, it is a check. */
function realToken(deps: PreflightDeps, decisionId: string, ctx: ConnectionContext, reason: string, tokenHash: string): void {
  deps.logger.warn({ decisionId, agent: ctx.agent, host: ctx.target.host, tokenHash, check: true }, reason);
  deps.alert?.({ event: 'real-credential-seen', decisionId, agent: ctx.agent, host: ctx.target.host, reason: `(in a pre-flight check) ${reason}`, detail: { tokenHash } });
}

/** A custody secret in what the call would send: the real call would be refused (secret-egress). */
function secretIn(deps: PreflightDeps, custody: Custody, adapter: ProviderAdapter, headers: IncomingHttpHeaders, input: CheckInput): string | null {
  const scanner = secretScanner(deps.policy());
  if (scanner.empty) return null;
  const own = custody.kind === 'report' && adapter.presentedTokens ? { provider: adapter.name, headers: new Set(adapter.presentedTokens(headers).map((t) => t.header)) } : undefined;
  const hit = findSecret(scanner, { rawHeaders: rawHeadersOf(headers), target: input.path, body: input.body }, own);
  if (!hit) return null;
  deps.logger.warn({ agent: custody.kind === 'swap' ? custody.agent : undefined, host: input.host, credential: hit.credential, where: hit.where, encoding: hit.encoding, check: true }, 'a pre-flight check carried a custody secret');
  return `the call carries the secret of credential ${hit.credential} (${hit.encoding}) in its ${hit.where}: scopegate holds that token and adds it itself; an agent never sends it`;
}

function answerOf(d: Decision, agent: string, decisionId: string, custody: Custody): CheckAnswer {
  const ceiling = custody.kind === 'swap' ? custody : null;
  const operations = (d.judged ?? []).map((j): CheckedOperation => {
    let decision: Action = j.verdict.action;
    let rule = j.verdict.rule;
    let reason = j.verdict.because.join('; ');
    const outside = ceiling && j.scope.status === 'resolved' ? outsideCeiling(ceiling.ceiling, j.scope.environments) : [];
    if (ceiling && outside.length > 0) {
      decision = 'deny';
      rule = 'token-ceiling';
      reason = `placeholder ${ceiling.placeholderId} may act only in ${ceiling.ceiling.join(', ')}; ${j.operation.name} reaches ${outside.map((e) => e.name).join(', ')}`;
    }
    const op = j.operation;
    return { operation: op.name, alias: op.alias, class: op.class, target: op.target ? { type: op.target.type, id: op.target.id } : null, scope: scopeView(j.scope), decision, rule, reason };
  });
  const kind: Action = d.kind === 'deny' || d.kind === 'hold' ? d.kind : 'allow';
  return {
    decision: kind,
    rule: ruleText(d),
    reason: d.reason ?? '',
    message: messageOf(d, kind),
    agent,
    decisionId,
    operations,
    ...(d.wouldBe ? { wouldBe: d.wouldBe } : {}),
  };
}

function messageOf(d: Decision, kind: Action): string {
  if (!d.operation) return `scopegate would ${kind === 'allow' ? 'let this call through' : kind === 'deny' ? 'deny this call' : 'hold this call'}${d.reason ? `: ${d.reason}` : ''}`;
  const what = operationText(d.operation);
  const why = decisionWhy(d);
  const monitor = d.wouldBe ? ` (monitor mode: the policy says ${d.wouldBe}, which is logged, not enforced)` : '';
  switch (kind) {
    case 'allow':
      return `scopegate would let ${what} through${monitor}: ${why}.`;
    case 'deny':
      return `scopegate would deny ${what}: ${why}. Do not make this call; tell the person you work for what it would touch.`;
    case 'hold':
      return `scopegate would hold ${what} for a person's approval: ${why}. Make the call only if a person should decide it: it waits for their approval, and is not executed before.`;
  }
}

/** An approved, unused, unexpired hold for exactly this call, found without using it. */
async function approvalFor(deps: PreflightDeps, adapter: ProviderAdapter, caller: ConnectionContext, path: string, headers: IncomingHttpHeaders, operations: readonly Operation[], d: Decision): Promise<CheckAnswer['approval'] | null> {
  const holds = deps.holds!;
  const fp = holds.fingerprint(callIdentity(adapter, caller.agent, caller.target.host, path, headers, operations, (d.judged ?? []).map((j) => j.scope))).call;
  const now = Date.now();
  const approved = await holds.store.listHolds('approved', 200);
  const h = approved.find((x) => x.fingerprint === fp && x.approvalExpiresAt !== null && x.approvalExpiresAt > now);
  return h ? { holdId: h.id, approvedBy: h.decidedBy, expiresAt: new Date(h.approvalExpiresAt!).toISOString() } : null;
}
