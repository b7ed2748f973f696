import type { Operation } from '../inspect/operation.js';
import type { Verdict } from '../policy/evaluate.js';
import type { Action } from '../policy/policy.js';
import type { Hold } from '../holds/store-types.js';
import type { AnswerCode, Refusal } from '../providers/types.js';
import { describeScope, type Scope, type Traffic } from '../scope/scope.js';

export type DecisionKind = 'allow' | 'deny' | 'hold' | 'pass' | 'error';

/**
 * The stage of the gate that settled a request, in order: `admit` (framing, host, identity),
 * `read` (body and operations), `decide` (live scope and policy), `hold` (a person's decision),
 * `forward` (the upstream's answer), `egress` (a host that is not guarded), `internal`.
 */
export type Stage = 'admit' | 'read' | 'decide' | 'hold' | 'forward' | 'egress' | 'internal';

export interface JudgedOperation {
  operation: Operation;
  scope: Scope;
  verdict: Verdict;
}

/** The outcome of one request or WebSocket message: plain data, recorded once by the recorder. */
export interface Decision {
  kind: DecisionKind;
  stage: Stage;
  /** The policy rule that decided, or what settled it at its stage (`unjudgeable`, `framing`, `egress`, `store`, `upstream`…). */
  rule: string;
  reason?: string;
  /** The operation that decided (the strictest one). */
  operation?: Operation;
  scope?: Scope;
  /** Every operation the request carried, with its verdict. */
  judged?: JudgedOperation[];
  /** Monitor mode: what enforcement would have done. */
  wouldBe?: Action;
  /** The hold this decision made or is about. */
  holdId?: string;
  /** The approval that let this call through. */
  approval?: { holdId: string; by: string | null };
  /** A hold that ended without an approval. */
  holdOutcome?: 'denied' | 'expired';
}

/** The decision's rule as the log line, the metric and the agent's answer name it. */
export function ruleText(d: Decision): string {
  if (d.approval) return `approved-hold:${d.approval.holdId}`;
  if (d.holdOutcome) return `hold-${d.holdOutcome}`;
  return d.rule;
}

/**
 * The one sentence that teaches an agent the pre-flight check, in every deny and hold: through
 * the proxy scopegate.internal reaches it from wherever the agent runs.
 */
export const CHECK_FIRST = 'You can check a call before making it: the check_call tool of `scopegate mcp`, or POST it to http://scopegate.internal/v1/check through the proxy.';

/** Where and how a person approves, for the agent's message. */
export interface HoldHints {
  pageUrl: string;
  approvalTtlText: string;
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
    ...(s.traffic ? { traffic: trafficSummary(s.traffic) } : {}),
  };
}

/** The traffic as an agent's tool reads it: the verdict, and each environment's figures (absent: unknown). */
function trafficSummary(t: Traffic): Record<string, unknown> {
  return {
    state: t.state ?? 'unknown',
    windowSeconds: t.windowSeconds,
    environments: t.environments.map((e) => ({ environment: e.environment.name, requests: e.requests, lastRequestAt: e.lastRequestAt, bytesIn: e.bytesIn, bytesOut: e.bytesOut, ...(e.unknown ? { unknown: e.unknown } : {}) })),
  };
}

/** Why a decision is what it is, in the words every answer uses: the live scope, what a payload does, the rule. */
export function decisionWhy(d: Decision): string {
  const op = d.operation!;
  // a call judged by its payload says what the payload does: that is the surprising part
  const payload = op.payloadKind && op.classReason ? `; ${op.classReason}` : '';
  return `${describeScope(d.scope!)}${payload}; rule ${ruleText(d)}${d.reason ? ` (${d.reason})` : ''}`;
}

/** The operation and its target, as answers name it: "volumeDelete on volume vol-7f3a9d". */
export function operationText(op: Operation): string {
  return `${op.name}${targetText(op)}`;
}

/** The words and fields an agent gets for a deny or a hold: what, on what, bound where, which rule. */
export function decisionRefusal(d: Decision, decisionId: string, hold?: Hold, hints?: HoldHints): Refusal {
  const op = d.operation!;
  const scope = d.scope!;
  const rule = ruleText(d);
  const code: AnswerCode = d.kind === 'deny' ? 'SCOPEGATE_DENIED' : 'SCOPEGATE_HOLD_PENDING';
  const why = decisionWhy(d);
  const message =
    d.kind === 'deny'
      ? `scopegate denied ${op.name}${targetText(op)}: ${why}. ${CHECK_FIRST}`
      : hold
        ? `scopegate is holding ${op.name}${targetText(op)} for a person's approval: ${why}. Hold ${hold.id} must be approved by the person who runs scopegate (\`scopegate holds approve ${hold.id}\`${hints ? ` or the approval page ${hints.pageUrl}` : ''}); once it is, retry this identical call${hints ? ` within ${hints.approvalTtlText}` : ''} and it will go through once. Do not work around it with a different call. ${CHECK_FIRST}`
        : `scopegate is holding ${op.name}${targetText(op)} for a person's approval: ${why}. Ask the person who runs scopegate to review decision ${decisionId}; do not retry with a different call. ${CHECK_FIRST}`;
  return {
    code,
    message,
    decisionId,
    details: {
      rule,
      operation: op.name,
      class: op.class,
      ...(op.target ? { target: { type: op.target.type, id: op.target.id } } : {}),
      scope: scopeSummary(scope),
      ...(hold ? { holdId: hold.id, holdExpiresAt: new Date(hold.expiresAt).toISOString(), approve: `scopegate holds approve ${hold.id}` } : d.holdId ? { holdId: d.holdId } : {}),
    },
  };
}
