/**
 * A store row as a record, for both stores: they share column names, and each driver hands back a
 * plain object per row. pg returns BIGINT columns as strings (their range exceeds a JS number's),
 * SQLite returns numbers; both go through `num`.
 */
import type { AuditEvent, Hold, HoldOperation, HoldStatus, PlaceholderRecord } from './store-types.js';

export type Row = Record<string, unknown>;

export const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const text = (v: unknown): string | null => (v as string | null | undefined) ?? null;
const json = <T>(v: unknown): T => JSON.parse(v as string) as T;

export function rowToHold(r: Row): Hold {
  return {
    id: r['id'] as string,
    decisionId: r['decision_id'] as string,
    status: r['status'] as HoldStatus,
    createdAt: num(r['created_at'])!,
    expiresAt: num(r['expires_at'])!,
    agent: r['agent'] as string,
    host: r['host'] as string,
    path: r['path'] as string,
    operation: r['operation'] as string,
    target: r['target'] ? json<Hold['target']>(r['target']) : null,
    scope: json<Record<string, unknown>>(r['scope']),
    rule: r['rule'] as string,
    reason: r['reason'] as string,
    operations: json<HoldOperation[]>(r['operations']),
    fingerprint: r['fingerprint'] as string,
    scopeFingerprint: r['scope_fingerprint'] as string,
    decidedAt: num(r['decided_at']),
    decidedBy: text(r['decided_by']),
    decisionReason: text(r['decision_reason']),
    approvalExpiresAt: num(r['approval_expires_at']),
    usedAt: num(r['used_at']),
    usedByDecision: text(r['used_by_decision']),
  };
}

export function rowToPlaceholder(r: Row): PlaceholderRecord {
  return {
    id: r['id'] as string,
    agent: r['agent'] as string,
    credential: r['credential'] as string,
    tokenHash: r['token_hash'] as string,
    environments: json<string[]>(r['environments']),
    createdAt: num(r['created_at'])!,
    expiresAt: num(r['expires_at']),
    lastUsedAt: num(r['last_used_at']),
    revokedAt: num(r['revoked_at']),
  };
}

export function rowToAuditEvent(r: Row): AuditEvent {
  return {
    seq: num(r['seq'])!,
    at: num(r['at'])!,
    event: r['event'] as string,
    decisionId: text(r['decision_id']),
    holdId: text(r['hold_id']),
    agent: text(r['agent']),
    host: text(r['host']),
    operation: text(r['operation']),
    actor: text(r['actor']),
    reason: text(r['reason']),
    detail: r['detail'] ? json<Record<string, unknown>>(r['detail']) : null,
  };
}
