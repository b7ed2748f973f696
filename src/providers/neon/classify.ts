import { worseClass, type Operation, type OperationClass, type Target } from '../../inspect/operation.js';
import type { NeonEntry } from './catalogue.js';

/** Read an argument path (`path.branch_id`, `body.branch.parent_id`) out of the judged arguments; body keys are lower-cased. */
export function argAt(args: Record<string, unknown>, path: string): unknown {
  let cur: unknown = args;
  const [head, ...rest] = path.split('.');
  const keys = head === 'body' ? [head!, ...rest.map((k) => k.toLowerCase())] : [head!, ...rest];
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Go's strconv.ParseBool, which Neon's query and JSON booleans go through: anything else is not a boolean. */
export function goBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v !== 'string') return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * What the payload makes of the call, where the catalogue says the payload decides. Names never
 * lower a class; what a payload cannot be read as is unknown.
 */
export function payloadClass(kind: string, args: Record<string, unknown>, base: OperationClass): { class: OperationClass; reason: string } | null {
  switch (kind) {
    case 'branch-restore': {
      // preserve_under_name keeps the old state as a new branch: that is what makes a restore recoverable
      const preserve = argAt(args, 'body.preserve_under_name');
      if (preserve !== undefined && typeof preserve !== 'string') return { class: 'unknown', reason: 'preserve_under_name is not a string' };
      return nonEmpty(preserve)
        ? { class: 'destructive-recoverable', reason: `the restore overwrites the branch's data; its previous state is kept as branch "${preserve.slice(0, 60)}"` }
        : { class: 'destructive-irreversible', reason: "the restore overwrites the branch's data and keeps no copy of it (no preserve_under_name)" };
    }
    case 'branch-update': {
      const prot = argAt(args, 'body.branch.protected');
      const expires = argAt(args, 'body.branch.expires_at');
      if (typeof expires === 'string' && expires !== '') return { class: worseClass(base, 'destructive-irreversible'), reason: `expires_at ${expires.slice(0, 40)} schedules the branch's deletion` };
      if (prot === false) return { class: worseClass(base, 'credential'), reason: 'protected: false removes the branch\'s protection' };
      if (prot !== undefined && typeof prot !== 'boolean') return { class: 'unknown', reason: 'protected is not a boolean' };
      return null;
    }
    case 'project-update': {
      const h = argAt(args, 'body.project.history_retention_seconds');
      if (h === undefined) return null;
      // lowering the restore window discards history for good; resolve compares with the live value
      return typeof h === 'number' ? { class: worseClass(base, 'destructive-irreversible'), reason: `history_retention_seconds ${h} may shorten the restore window, discarding history` } : { class: 'unknown', reason: 'history_retention_seconds is not a number' };
    }
    case 'snapshot-restore': {
      const fin = argAt(args, 'body.finalize_restore');
      if (fin === true) return { class: worseClass(base, 'destructive-recoverable'), reason: 'finalize_restore: true moves the target branch\'s computes and name to the restored data (the original is kept under another name)' };
      if (fin !== undefined && typeof fin !== 'boolean') return { class: 'unknown', reason: 'finalize_restore is not a boolean' };
      return null;
    }
    case 'auth-disable': {
      const del = argAt(args, 'body.delete_data');
      if (del === true) return { class: worseClass(base, 'destructive-irreversible'), reason: 'delete_data: true drops the neon_auth schema and its users' };
      if (del !== undefined && typeof del !== 'boolean') return { class: 'unknown', reason: 'delete_data is not a boolean' };
      return null;
    }
    default:
      return null;
  }
}

/** One catalogue entry and the request's arguments → the operation as the gate judges it. */
export function classifyNeon(operationId: string, entry: NeonEntry, forceRead: 'read' | null, args: Record<string, unknown>): Operation {
  const effect: Operation['effect'] = forceRead || entry.class === 'read' ? 'read' : 'write';
  let cls: OperationClass = forceRead ?? entry.class;
  let reason: string | null = entry.note ?? null;
  if (entry.payload && !forceRead) {
    const p = payloadClass(entry.payload.kind, args, cls);
    if (p) {
      cls = p.class;
      reason = p.reason;
    }
  }
  let target: Target | null = null;
  if (entry.target) {
    const id = entry.target.id ? argAt(args, entry.target.id) : undefined;
    const withValues: Record<string, unknown> = {};
    for (const [role, path] of Object.entries(entry.target.with ?? {})) {
      const v = argAt(args, path);
      if (v !== undefined) withValues[role] = v;
    }
    target = { type: entry.target.type, id: typeof id === 'string' ? id : id === undefined || id === null ? null : JSON.stringify(id), with: withValues };
  }
  return {
    provider: 'neon',
    type: 'http',
    effect,
    name: operationId,
    alias: null,
    operationName: null,
    args,
    class: cls,
    target,
    reach: entry.reach ?? null,
    flags: entry.flags ?? [],
    classReason: reason,
    payloadKind: entry.payload?.kind ?? null,
    conditional: false,
  };
}
