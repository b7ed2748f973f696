import type { IncomingHttpHeaders } from 'node:http';
import type { CallIdentity } from '../holds/holds.js';
import type { Operation } from '../inspect/operation.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { Scope } from '../scope/scope.js';
import type { HoldOperation } from '../holds/store-types.js';
import type { Verdict } from '../policy/evaluate.js';

/**
 * What an approval is for, in the provider's own terms: agent, host, the whole request target,
 * the credential the call carries, each operation's essence and its live scope's essence (the
 * adapter says which parts count), and how the operations are shown to the person deciding.
 */
export function callIdentity(
  adapter: ProviderAdapter,
  agent: string,
  host: string,
  path: string,
  headers: IncomingHttpHeaders,
  operations: readonly Operation[],
  scopes: readonly Scope[],
  /** What the policy said of each operation (same order), shown beside it on the hold. */
  verdicts?: readonly { verdict: Verdict; operationClass: string }[],
): CallIdentity {
  const c = adapter.credential(headers);
  return {
    agent,
    host,
    path,
    credential: c ? `${c.header}:${c.value}` : null,
    operations: operations.map((o) => adapter.callEssence(o)),
    scopes: scopes.map((s) => adapter.scopeEssence(s)),
    display: strictestFirst(
      operations.map((o, i) => {
        const v = verdicts?.[i];
        const s = scopes[i];
        const shown: HoldOperation = { name: o.name, alias: o.alias, type: o.type, class: v?.operationClass ?? o.class, target: o.target ? { type: o.target.type, id: o.target.id } : null, args: adapter.displayArgs(o) };
        if (s && s.status !== 'not-needed') shown.scope = s as unknown as Record<string, unknown>;
        if (v) shown.decision = { action: v.verdict.action, rule: v.verdict.rule, reason: v.verdict.because.join('; ') };
        return shown;
      }),
    ),
  };
}

const ACTION_ORDER: Record<string, number> = { deny: 0, hold: 1, allow: 2 };
const CLASS_ORDER = ['destructive-irreversible', 'destructive-recoverable', 'credential', 'unknown', 'deploy', 'modify', 'create', 'benign', 'read'];

/**
 * A batch is decided by its strictest operation, so that is what the person deciding must see
 * first: the operations by what the policy says of each (deny, hold, allow), then by class.
 */
export function strictestFirst(ops: HoldOperation[]): HoldOperation[] {
  const rank = (o: HoldOperation): [number, number] => [ACTION_ORDER[o.decision?.action ?? 'allow'] ?? 3, CLASS_ORDER.indexOf(o.class) < 0 ? CLASS_ORDER.length : CLASS_ORDER.indexOf(o.class)];
  return ops
    .map((o, i) => ({ o, i, r: rank(o) }))
    .sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.i - b.i)
    .map((x) => x.o);
}
