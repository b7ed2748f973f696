import type { AnswerStatusMode, ProviderAnswer, Refusal } from '../types.js';

/**
 * A refusal in Neon's error shape (`{"code", "message"}`, as its GeneralError), with scopegate's
 * fields beside them: the decision id, the hold id when held, the rule and the live scope. Neon
 * is not GraphQL, so `--answer-status` does not apply: 403 denied, 409 pending, 422 unjudgeable,
 * statuses its clients (the SDK, neonctl, the MCP server) surface with the body's message.
 */
export function neonAnswer(r: Refusal, _mode: AnswerStatusMode): ProviderAnswer {
  const status = r.code === 'SCOPEGATE_HOLD_PENDING' ? 409 : r.code === 'SCOPEGATE_UNJUDGEABLE' ? 422 : 403;
  const { rule, scope, holdId, ...rest } = r.details;
  const body = {
    code: r.code,
    message: r.message,
    decisionId: r.decisionId,
    ...(holdId !== undefined ? { holdId } : {}),
    ...(rule !== undefined ? { rule } : {}),
    ...(scope !== undefined ? { scope } : {}),
    ...rest,
  };
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(body) };
}
