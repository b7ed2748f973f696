import type { AnswerStatusMode, ProviderAnswer, Refusal } from '../providers/types.js';

/**
 * A refusal in the shape a GraphQL API reports its own errors: `{ data: null, errors: [...] }`
 * with the code and details under `extensions`. Status 200 by default, the way GraphQL APIs report
 * their own refusals and the only form some agent tool servers pass on; 403/409 with `--answer-status http`.
 */
export function graphqlAnswer(r: Refusal, mode: AnswerStatusMode): ProviderAnswer {
  const status = mode === 'graphql' ? 200 : r.code === 'SCOPEGATE_HOLD_PENDING' ? 409 : 403;
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ data: null, errors: [graphqlError(r)] }) };
}

/** One GraphQL error for a refusal (also what a GraphQL-over-WebSocket `error` message carries). */
export function graphqlError(r: Refusal): { message: string; extensions: Record<string, unknown> } {
  return { message: r.message, extensions: { code: r.code, ...r.details, decisionId: r.decisionId } };
}
