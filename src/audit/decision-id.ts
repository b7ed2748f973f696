import { randomBytes } from 'node:crypto';

/**
 * The id that ties an agent's answer, the log line, a hold and the audit trail together.
 * Time first so ids sort roughly by creation; random after so they cannot be guessed.
 */
export function newDecisionId(now = Date.now()): string {
  return `D-${now.toString(36)}-${randomBytes(6).toString('base64url')}`;
}
