import { custodyOf } from '../gate/custody.js';
import { asCaller, judgeLive } from '../gate/decide.js';
import type { Operation } from '../inspect/operation.js';
import { parseAuthority } from '../net/host.js';
import type { ConnectionContext } from '../proxy/context.js';
import { unresolved } from '../scope/scope.js';
import { scopeView, withCallerToken, type PreflightDeps, type ScopeView } from './check.js';
import { SCOPE_USAGE, type ScopeInput } from './input.js';

export type ScopeResult = { ok: true; agent: string; scope: ScopeView; lookups: string[] } | { ok: false; status: 400 | 403; message: string };

/**
 * The live scope of a target, asked of the provider through its adapter's resolver, as for a call
 * that would act on it: always live (no cached answer), with the credential a real call of the
 * caller's would use for its lookups.
 */
export async function scopeOf(deps: PreflightDeps, ctx: ConnectionContext, input: ScopeInput, token?: string): Promise<ScopeResult> {
  const policy = deps.policy();
  const guarded = policy.providers.find((p) => p.name === input.provider);
  const adapter = guarded ? deps.providers.get(guarded.name) : undefined;
  if (!guarded || !adapter) {
    return { ok: false, status: 400, message: `provider "${input.provider.slice(0, 40)}" is not guarded by this policy; the guarded providers are ${policy.providers.map((p) => p.name).join(', ') || 'none'}; ${SCOPE_USAGE}` };
  }
  const hostText = input.host ?? guarded.hosts.find((h) => !h.includes('*')) ?? adapter.defaultHosts[0];
  let target;
  try {
    target = hostText ? parseAuthority(hostText, 443) : null;
  } catch {
    target = null;
  }
  if (!target || !guarded.matcher.matches(target.host)) return { ok: false, status: 400, message: `"host" must be one of ${input.provider}'s guarded hosts (${guarded.hosts.join(', ')}); ${SCOPE_USAGE}` };

  const sent = withCallerToken(adapter, input.headers, token);
  const custody = await custodyOf(policy, adapter, deps.placeholders, sent, ctx.agent);
  if (custody.kind === 'refuse') return { ok: false, status: 403, message: `scopegate would refuse calls made this way, so it looks nothing up for them: ${custody.reason}` };
  const { caller, headers } = asCaller({ ...ctx, target, provider: adapter.name }, custody, sent);

  // a stand-in for a call that would act on the target and nothing else: the resolver needs no more
  const op: Operation = {
    provider: adapter.name,
    type: 'http',
    effect: 'write',
    name: `scope of ${input.type}`,
    alias: null,
    operationName: null,
    args: {},
    class: 'unknown',
    target: { type: input.type, id: input.id, with: {} },
    reach: null,
    flags: [],
    classReason: null,
    payloadKind: null,
    conditional: false,
  };
  const d = await judgeLive(deps, policy, adapter, caller, headers, [op]);
  const scope = d.judged?.[0]?.scope ?? unresolved('no lookup was made');
  return { ok: true, agent: caller.agent, scope: scopeView(scope), lookups: scope.lookups ?? [] };
}
