import type { Hold, HoldOperation } from './store-types.js';

/**
 * What a person must type to approve a hold that lets an irreversible call through, as cloud
 * consoles ask for a resource's name before deleting it: a click on the wrong card of a busy
 * page must not destroy anything. Holds of recoverable calls need no such step.
 */
export interface Confirmation {
  /** The operation that makes the approval irreversible (the strictest one). */
  operation: string;
  /** What to type, as shown to the person: the target's name, else its id. */
  expected: string;
  /** Everything accepted: the target's name and its id. */
  accepted: string[];
  /** "volume pgdata (vol-7f3a9d)": what the person is told they are confirming. */
  what: string;
}

export function confirmationFor(h: Pick<Hold, 'operations' | 'operation' | 'target' | 'scope'>): Confirmation | null {
  const irreversible: HoldOperation | undefined = h.operations.find((o) => o.class === 'destructive-irreversible');
  if (!irreversible) return null;
  const scope = (irreversible.scope ?? (irreversible.name === h.operation ? h.scope : undefined)) as { resource?: { type?: string; id?: string; name?: string } } | undefined;
  // a service's name carries what it mounts, "api (mounts pgdata)": the name alone is typed
  const name = scope?.resource?.name?.replace(/\s*\(.*\)$/, '').trim() || undefined;
  const id = irreversible.target?.id ?? scope?.resource?.id ?? undefined;
  const accepted = [name, id].filter((x): x is string => typeof x === 'string' && x.length > 0);
  const expected = accepted[0] ?? irreversible.name;
  const type = irreversible.target?.type ?? scope?.resource?.type ?? 'target';
  return { operation: irreversible.name, expected, accepted: accepted.length > 0 ? accepted : [irreversible.name], what: `${type} ${name ?? id ?? ''}${name && id ? ` (${id})` : ''}`.trim() };
}

/** Whether what the person typed confirms the hold (exact, after trimming spaces around it). */
export function confirms(c: Confirmation, typed: string | null | undefined): boolean {
  const t = (typed ?? '').trim();
  return t.length > 0 && c.accepted.includes(t);
}
