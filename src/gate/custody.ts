import type { IncomingHttpHeaders } from 'node:http';
import type { Placeholders } from '../custody/placeholders.js';
import type { Policy } from '../policy/policy.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { EnvironmentRef } from '../scope/scope.js';

/** What credential custody makes of a request's provider tokens. */
export type Custody =
  /** No custody applies (none configured for this provider, or no token sent): the call goes as sent. */
  | { kind: 'none' }
  /** A live placeholder: it is the caller; the real token replaces every token the agent sent. */
  | {
      kind: 'swap';
      agent: string;
      placeholderId: string;
      /** Environments the placeholder may act in; empty: no ceiling. */
      ceiling: readonly string[];
      /** Headers dropped before forwarding (every provider token header the agent used, and the provider's stripped ones). */
      drop: ReadonlySet<string>;
      /** The real token, as header name and value. */
      add: string[];
      /** The request's headers as the provider will see them: live lookups use them. */
      headers: IncomingHttpHeaders;
    }
  /** Refused before anything is read: a real token, a revoked or expired placeholder, another agent's. */
  | { kind: 'refuse'; status: 403 | 407; rule: string; reason: string; tokenHash?: string }
  /** credentials_required: false and a real token: forwarded as sent, but reported. */
  | { kind: 'report'; reason: string; tokenHash: string };

const NONE: Custody = { kind: 'none' };
/** How stale a placeholder's lastUsedAt may be before a call writes it again. */
const MARK_USED_EVERY_MS = 5_000;

/**
 * The custody stage: a placeholder in any of the provider's token headers identifies the agent and
 * is swapped for the credential's real token; with custody configured for the provider, any other
 * token is a real one that should not be in an agent's hands, and is refused (or reported).
 */
export async function custodyOf(policy: Policy, adapter: ProviderAdapter, placeholders: Placeholders | undefined, headers: IncomingHttpHeaders, agent: string, now = Date.now()): Promise<Custody> {
  if (!placeholders || !adapter.presentedTokens || policy.credentials.size === 0) return NONE;
  let configured = false;
  for (const c of policy.credentials.values()) if (c.provider === adapter.name) configured = true;
  if (!configured) return NONE;
  const presented = adapter.presentedTokens(headers);
  if (presented.length === 0) return NONE;
  let live: { id: string; agent: string; credential: string; environments: string[]; lastUsedAt: number | null } | null = null;
  for (const { header, token } of presented) {
    const v = await placeholders.verify(token, now);
    if (v === null) {
      const tokenHash = placeholders.hash(token).slice(0, 16);
      const reason = `the call carries a real ${adapter.name} token in ${header}, not a placeholder: agents get placeholders (scopegate token create); this token should be rotated`;
      return policy.credentialsRequired ? { kind: 'refuse', status: 403, rule: 'real-credential', reason, tokenHash } : { kind: 'report', reason, tokenHash };
    }
    if (v.status !== 'live') return { kind: 'refuse', status: 403, rule: `token-${v.status}`, reason: `placeholder ${v.placeholder.id} is ${v.status}; ask for a new one (scopegate token create)` };
    if (live && live.id !== v.placeholder.id) return { kind: 'refuse', status: 403, rule: 'token-mismatch', reason: 'the call carries two different placeholders' };
    live = v.placeholder;
  }
  const p = live!;
  if (agent !== 'anonymous' && agent !== p.agent) {
    return { kind: 'refuse', status: 407, rule: 'identity', reason: `Proxy-Authorization names agent ${agent}, but the placeholder is agent ${p.agent}'s` };
  }
  const credential = policy.credentials.get(p.credential);
  if (!credential || credential.provider !== adapter.name) {
    return { kind: 'refuse', status: 403, rule: 'token-credential', reason: `placeholder ${p.id} is for credential ${p.credential}, which the policy no longer has for ${adapter.name}` };
  }
  // when it was last used is for `token list`, not a check: not waited for, its failure is no
  // refusal, and written at most every few seconds (replicas sharing a busy placeholder would
  // otherwise queue on its row with a write per call)
  if (p.lastUsedAt === null || now - p.lastUsedAt >= MARK_USED_EVERY_MS) placeholders.markUsed(p.id, now).catch(() => undefined);
  const value = credential.bearer ? `Bearer ${credential.secret.reveal()}` : credential.secret.reveal();
  const drop = new Set<string>(adapter.strippedHeaders);
  for (const { header } of presented) drop.add(header);
  drop.add(credential.header);
  const swapped: IncomingHttpHeaders = { ...headers };
  for (const h of drop) delete swapped[h];
  swapped[credential.header] = value;
  return { kind: 'swap', agent: p.agent, placeholderId: p.id, ceiling: p.environments, drop, add: [credential.header, value], headers: swapped };
}

/** The environments of `envs` that a placeholder's ceiling does not allow: names (any case), ids, @primary, globs like pr-*. */
export function outsideCeiling(ceiling: readonly string[], envs: readonly EnvironmentRef[]): EnvironmentRef[] {
  if (ceiling.length === 0) return [];
  const patterns = ceiling.map((c) => (c.includes('*') ? new RegExp(`^${c.toLowerCase().split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`) : c.toLowerCase()));
  return envs.filter(
    (e) =>
      !patterns.some((p) => {
        if (p === '@primary') return e.primary === true;
        if (p === '@protected') return e.protected === true;
        if (typeof p === 'string') return e.name.toLowerCase() === p || e.id.toLowerCase() === p;
        return p.test(e.name.toLowerCase()) || p.test(e.id.toLowerCase());
      }),
  );
}
