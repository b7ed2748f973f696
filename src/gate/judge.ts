import type { Operation } from '../inspect/operation.js';
import { evaluate, needsScope, strictest, type Verdict } from '../policy/evaluate.js';
import type { Action, Policy } from '../policy/policy.js';
import type { AnswerCode } from '../proxy/answers.js';
import type { Hold } from '../holds/store.js';
import { describeScope, NOT_NEEDED, unresolved, type Scope } from '../scope/scope.js';

export type DecisionKind = 'allow' | 'deny' | 'hold' | 'pass' | 'error';

export interface JudgedOperation {
  operation: Operation;
  scope: Scope;
  verdict: Verdict;
}

/** The outcome of one request: plain data, logged as one line. */
export interface Decision {
  decision: DecisionKind;
  /** The rule or the stage that decided. */
  rule: string;
  reason?: string;
  /** The operation that decided (the strictest one). */
  operation?: Operation;
  scope?: Scope;
  /** Every operation the request carried, with its verdict. */
  judged?: JudgedOperation[];
  /** Monitor mode: what enforcement would have done. */
  wouldBe?: Action;
  /** The hold this decision made, or whose approval let the call through. */
  holdId?: string;
}

/** Where and how a person approves, for the agent's message. */
export interface HoldHints {
  pageUrl: string;
  approvalTtlText: string;
}

/**
 * resolve → decide for the operations of one request (or one websocket message): the live scope
 * of each target, the first matching rule for each, and the strictest verdict for the whole.
 */
export type ScopeSource = (operation: Operation) => Promise<Scope>;

/** Without a resolver every scope that matters is unresolved: the policy's unresolved default applies. */
export const NO_RESOLVER: ScopeSource = async () => unresolved('live scope resolution is not configured for this provider');

export async function judge(policy: Policy, agent: string, operations: readonly Operation[], scopeFor: ScopeSource = NO_RESOLVER): Promise<Decision> {
  const judged: JudgedOperation[] = [];
  for (const operation of operations) {
    const scope = needsScope(operation) ? await scopeFor(operation) : NOT_NEEDED;
    // a payload found live (a staged patch) decides the class instead of the catalogue's worst case
    const judgedOp = scope.payloadClass ? { ...operation, class: scope.payloadClass.class, classReason: scope.payloadClass.reason } : operation;
    judged.push({ operation: judgedOp, scope, verdict: evaluate(policy, { agent, operation: judgedOp, scope }) });
  }
  const worst = strictest(judged);
  const decision: Decision = {
    decision: worst.verdict.action,
    rule: worst.verdict.rule,
    reason: worst.verdict.because.join('; '),
    operation: worst.operation,
    scope: worst.scope,
    judged,
  };
  if (policy.mode === 'monitor' && decision.decision !== 'allow') {
    decision.wouldBe = decision.decision as Action;
    decision.decision = 'allow';
  }
  return decision;
}

function targetText(op: Operation): string {
  return op.target?.id ? ` on ${op.target.type} ${op.target.id}` : '';
}

export function scopeSummary(s: Scope): Record<string, unknown> {
  return {
    status: s.status,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.project ? { project: s.project.name ?? s.project.id } : {}),
    environments: s.environments.map((e) => e.name),
    ...(s.shared ? { shared: true } : {}),
    ...(s.backups ? { backups: s.backups } : {}),
  };
}

/** The words and fields an agent gets for a deny or a hold: what, on what, bound where, which rule. */
export function decisionAnswer(d: Decision, decisionId: string, hold?: Hold, hints?: HoldHints): { code: AnswerCode; message: string; extensions: Record<string, unknown> } {
  const op = d.operation!;
  const scope = d.scope!;
  const code: AnswerCode = d.decision === 'deny' ? 'SCOPEGATE_DENIED' : 'SCOPEGATE_HOLD_PENDING';
  // a call judged by its payload says what the payload does: that is the surprising part
  const payload = op.payloadKind && op.classReason ? `; ${op.classReason}` : '';
  const why = `${describeScope(scope)}${payload}; rule ${d.rule}${d.reason ? ` (${d.reason})` : ''}`;
  const message =
    d.decision === 'deny'
      ? `scopegate denied ${op.name}${targetText(op)}: ${why}`
      : hold
        ? `scopegate is holding ${op.name}${targetText(op)} for a person's approval: ${why}. Hold ${hold.id} must be approved by the person who runs scopegate (\`scopegate holds approve ${hold.id}\`${hints ? ` or the approval page ${hints.pageUrl}` : ''}); once it is, retry this identical call${hints ? ` within ${hints.approvalTtlText}` : ''} and it will go through once. Do not work around it with a different call.`
        : `scopegate is holding ${op.name}${targetText(op)} for a person's approval: ${why}. Ask the person who runs scopegate to review decision ${decisionId}; do not retry with a different call.`;
  return {
    code,
    message,
    extensions: {
      rule: d.rule,
      operation: op.name,
      class: op.class,
      ...(op.target ? { target: { type: op.target.type, id: op.target.id } } : {}),
      scope: scopeSummary(scope),
      ...(hold ? { holdId: hold.id, holdExpiresAt: new Date(hold.expiresAt).toISOString(), approve: `scopegate holds approve ${hold.id}` } : d.holdId ? { holdId: d.holdId } : {}),
    },
  };
}
