import type { IncomingHttpHeaders } from 'node:http';
import type { CallIdentity } from '../holds/holds.js';
import type { Operation } from '../inspect/operation.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { Scope } from '../scope/scope.js';

/**
 * What an approval is for, in the provider's own terms: agent, host, the whole request target,
 * the credential the call carries, each operation's essence and its live scope's essence (the
 * adapter says which parts count), and how the operations are shown to the person deciding.
 */
export function callIdentity(adapter: ProviderAdapter, agent: string, host: string, path: string, headers: IncomingHttpHeaders, operations: readonly Operation[], scopes: readonly Scope[]): CallIdentity {
  const c = adapter.credential(headers);
  return {
    agent,
    host,
    path,
    credential: c ? `${c.header}:${c.value}` : null,
    operations: operations.map((o) => adapter.callEssence(o)),
    scopes: scopes.map((s) => adapter.scopeEssence(s)),
    display: operations.map((o) => ({ name: o.name, alias: o.alias, type: o.type, class: o.class, target: o.target ? { type: o.target.type, id: o.target.id } : null, args: adapter.displayArgs(o) })),
  };
}
