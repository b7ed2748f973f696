import type { Hold } from '../holds/store-types.js';
import type { PreflightDeps } from './check.js';

export interface HoldStatusView {
  id: string;
  status: Hold['status'];
  operation: string;
  target: Hold['target'];
  /** The live scope the person saw, in one line. */
  scope: string;
  rule: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  decidedBy: string | null;
  decisionReason: string | null;
  approvalExpiresAt: string | null;
  usedAt: string | null;
  /** What the agent should do now. */
  next: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function scopeLine(s: Record<string, unknown>): string {
  if (s['status'] !== 'resolved') return `unresolved${typeof s['reason'] === 'string' ? ` (${s['reason']})` : ''}`;
  const envs = Array.isArray(s['environments']) ? (s['environments'] as { name?: string }[]).map((e) => e.name ?? '?').join(', ') : '';
  return `bound to ${envs || 'no environment'}${s['shared'] ? ' (shared)' : ''}`;
}

function nextStep(h: Hold): string {
  switch (h.status) {
    case 'pending':
      return `waiting for a person: the person who runs scopegate approves it with \`scopegate holds approve ${h.id}\` or on the approval page; until then do not make this call another way`;
    case 'approved':
      return `approved by ${h.decidedBy ?? 'a person'}: make the identical call again before ${iso(h.approvalExpiresAt)} and it goes through once`;
    case 'denied':
      return `denied by ${h.decidedBy ?? 'a person'}${h.decisionReason ? ` (${h.decisionReason})` : ''}: do not make this call`;
    case 'expired':
      return h.decidedAt ? 'the approval lapsed unused: the call needs a new hold, and a person\'s approval again' : 'nobody decided in time: the call needs a new hold';
    case 'used':
      return 'approved and used: the call went through once; doing it again needs a new approval';
  }
}

/** One of the caller's own holds, or null: another agent's hold is not the caller's to see (and is not said to exist). */
export async function holdStatus(deps: PreflightDeps, agent: string, id: string): Promise<HoldStatusView | null> {
  if (!deps.holds || !/^H-[0-9a-z]+-[A-Za-z0-9_-]+$/.test(id)) return null;
  const h = await deps.holds.store.getHold(id);
  if (!h || h.agent !== agent) return null;
  return {
    id: h.id,
    status: h.status,
    operation: h.operation,
    target: h.target,
    scope: scopeLine(h.scope),
    rule: h.rule,
    reason: h.reason,
    createdAt: iso(h.createdAt)!,
    expiresAt: iso(h.expiresAt)!,
    decidedBy: h.decidedBy,
    decisionReason: h.decisionReason,
    approvalExpiresAt: iso(h.approvalExpiresAt),
    usedAt: iso(h.usedAt),
    next: nextStep(h),
  };
}
