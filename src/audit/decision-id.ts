import { randomBytes } from 'node:crypto';

/**
 * The id that ties an agent's answer, the log line, a hold and the audit trail together.
 * Time first so ids sort roughly by creation; random after so they cannot be guessed.
 */
// random bytes drawn 6 at a time from a pooled buffer: one getrandom call per 682 ids, not per id
let pool = Buffer.alloc(0);
let offset = 0;

export function newDecisionId(now = Date.now()): string {
  if (offset + 6 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 6);
  offset += 6;
  return `D-${now.toString(36)}-${id}`;
}
