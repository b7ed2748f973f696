import type { Operation } from '../inspect/operation.js';
import { evaluate, needsScope, strictest } from '../policy/evaluate.js';
import type { Action, Policy } from '../policy/policy.js';
import { NOT_NEEDED, unresolved, withTrafficState, type Scope } from '../scope/scope.js';
import type { Decision, JudgedOperation } from './decision.js';

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
    // the traffic's verdict under this policy's threshold goes with the scope, so every surface says the same
    const scope = needsScope(operation) ? withTrafficState(await scopeFor(operation), policy.trafficIdleBytes) : NOT_NEEDED;
    // a payload found live (a staged patch) decides the class instead of the catalogue's worst case
    const judgedOp = scope.payloadClass ? { ...operation, class: scope.payloadClass.class, classReason: scope.payloadClass.reason } : operation;
    judged.push({ operation: judgedOp, scope, verdict: evaluate(policy, { agent, operation: judgedOp, scope }) });
  }
  const worst = strictest(judged);
  const decision: Decision = {
    kind: worst.verdict.action,
    stage: 'decide',
    rule: worst.verdict.rule,
    reason: worst.verdict.because.join('; '),
    operation: worst.operation,
    scope: worst.scope,
    judged,
  };
  if (policy.mode === 'monitor' && decision.kind !== 'allow') {
    decision.wouldBe = decision.kind as Action;
    decision.kind = 'allow';
  }
  return decision;
}

