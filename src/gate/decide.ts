import type { IncomingHttpHeaders } from 'node:http';
import { errorMessage } from '../errors.js';
import type { Operation } from '../inspect/operation.js';
import type { Policy } from '../policy/policy.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { ConnectionContext } from '../proxy/context.js';
import type { LiveLookups } from '../scope/live-lookups.js';
import { unresolved, type Scope } from '../scope/scope.js';
import { outsideCeiling, type Custody } from './custody.js';
import type { Decision } from './decision.js';
import { judge, type ScopeSource } from './judge.js';

/**
 * The decide stage on its own: live scope, policy, a placeholder's ceiling, and nothing else — no
 * forwarding, no hold, no record. The gate runs it on every call on a guarded host; a pre-flight
 * check runs the very same function on a call that is described instead of sent.
 */

/** What deciding needs: the live lookups and their deadline, and the policy in force. */
export interface DecideDeps {
  lookups: LiveLookups;
  lookupTimeoutMs: number;
  /** How far back recent traffic looks (--traffic-window); 0 or absent: traffic is not looked up. */
  trafficWindowMs?: number;
  policy: () => Policy;
}

/** Who the call is from and what it carries once custody has had its say (a placeholder is its agent, its headers carry the real token). */
export function asCaller(ctx: ConnectionContext, custody: Custody, headers: IncomingHttpHeaders): { caller: ConnectionContext; headers: IncomingHttpHeaders } {
  return custody.kind === 'swap' ? { caller: { ...ctx, agent: custody.agent }, headers: custody.headers } : { caller: ctx, headers };
}

/**
 * Each operation's live scope and the policy's verdict, the strictest winning; a placeholder's
 * ceiling is checked on the result, so no rule can let a call out of it.
 */
export async function decideCall(deps: DecideDeps, adapter: ProviderAdapter, caller: ConnectionContext, custody: Custody, headers: IncomingHttpHeaders, operations: readonly Operation[]): Promise<Decision> {
  const d = await judgeLive(deps, deps.policy(), adapter, caller, headers, operations);
  return custody.kind === 'swap' ? withinCeiling(d, custody.placeholderId, custody.ceiling) : d;
}

/**
 * Judge a request's operations against the live scope: the provider's lookups, all of the
 * request's lookups under one deadline, made on first use (reads never look anything up and
 * should not pay for a deadline) and cleared when judging ends, so a busy proxy does not keep a
 * timer per judged call alive for the whole lookup timeout.
 */
export async function judgeLive(deps: Pick<DecideDeps, 'lookups' | 'lookupTimeoutMs' | 'trafficWindowMs'>, policy: Policy, adapter: ProviderAdapter, ctx: ConnectionContext, headers: IncomingHttpHeaders, operations: readonly Operation[]): Promise<Decision> {
  let deadline: { signal: AbortSignal; expired: Promise<Scope>; at: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const start = (): { signal: AbortSignal; expired: Promise<Scope>; at: number } => {
    const ac = new AbortController();
    const at = performance.now() + deps.lookupTimeoutMs;
    const expired = new Promise<Scope>((resolve) => {
      timer = setTimeout(() => {
        ac.abort();
        resolve(unresolved(`live lookup did not finish within ${deps.lookupTimeoutMs} ms`));
      }, deps.lookupTimeoutMs);
      timer.unref();
    });
    return { signal: ac.signal, expired, at };
  };
  const scopeFor: ScopeSource = async (operation) => {
    deadline ??= start();
    try {
      const req = { host: ctx.target.host, port: ctx.target.port, headers, lookups: deps.lookups, signal: deadline.signal, deadlineAt: deadline.at, trafficWindowMs: deps.trafficWindowMs ?? 0 };
      return await Promise.race([adapter.resolve(operation, req), deadline.expired]);
    } catch (err) {
      return unresolved(`live lookup failed: ${errorMessage(err)}`);
    }
  };
  try {
    return await judge(policy, ctx.agent, operations, scopeFor);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A placeholder with an environment ceiling may act only there: a call whose live scope reaches
 * any other environment is denied, whatever the rules say. An unresolved scope is left to the
 * policy's unresolved default.
 */
export function withinCeiling(d: Decision, placeholderId: string, ceiling: readonly string[]): Decision {
  if (ceiling.length === 0) return d;
  for (const j of d.judged ?? []) {
    if (j.scope.status !== 'resolved') continue;
    const outside = outsideCeiling(ceiling, j.scope.environments);
    if (outside.length === 0) continue;
    const reason = `placeholder ${placeholderId} may act only in ${ceiling.join(', ')}; ${j.operation.name} reaches ${outside.map((e) => e.name).join(', ')}`;
    const { wouldBe: _, ...rest } = d;
    return { ...rest, kind: 'deny', stage: 'decide', rule: 'token-ceiling', reason, operation: j.operation, scope: j.scope };
  }
  return d;
}

