import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HostMatcher } from '../proxy/host.js';
import { PROVIDERS } from '../providers/registry.js';
import { POLICY_SHAPE } from './schema.js';
import { CheckFailed, parseAndCheck } from './yaml-check.js';

export type EgressVerdict = { allowed: true } | { allowed: false; reason: string };

export interface GuardedProvider {
  name: string;
  hosts: readonly string[];
  matcher: HostMatcher;
}

/** A policy after validation: frozen, with matchers built once. */
export interface Policy {
  source: string;
  mode: 'enforce' | 'monitor';
  egress: { default: 'allow' | 'deny'; allow: HostMatcher; deny: HostMatcher };
  providers: readonly GuardedProvider[];
}

interface RawPolicy {
  version: 1;
  mode?: 'enforce' | 'monitor';
  egress?: { default?: 'allow' | 'deny'; allow?: string[]; deny?: string[] };
  providers?: Record<string, { hosts?: string[] }>;
}

export class PolicyError extends Error {
  readonly code = 'SCOPEGATE_POLICY';
}

export function loadPolicyFile(path: string): Policy {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new PolicyError(`cannot read policy ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parsePolicy(text, path);
}

/** Throws CheckFailed (every problem, with file:line:column) or returns the frozen policy. */
export function parsePolicy(text: string, source: string): Policy {
  const raw = parseAndCheck(text, source, POLICY_SHAPE) as RawPolicy;
  const providers: GuardedProvider[] = Object.entries(raw.providers ?? {}).map(([name, p]) => {
    const hosts = p.hosts ?? PROVIDERS.get(name)!.defaultHosts;
    return { name, hosts, matcher: new HostMatcher(hosts) };
  });
  return Object.freeze({
    source,
    mode: raw.mode ?? 'enforce',
    egress: {
      default: raw.egress?.default ?? 'allow',
      allow: new HostMatcher(raw.egress?.allow ?? []),
      deny: new HostMatcher(raw.egress?.deny ?? []),
    },
    providers,
  });
}

export { CheckFailed };

/** The provider guarding `host` (normalised), if any. */
export function guardedBy(policy: Policy, host: string): GuardedProvider | null {
  for (const p of policy.providers) if (p.matcher.matches(host)) return p;
  return null;
}

/** May a connection to a host that is not guarded be tunnelled? The deny list wins over the allow list. */
export function egressVerdict(policy: Policy, host: string): EgressVerdict {
  if (policy.egress.deny.matches(host)) return { allowed: false, reason: `egress to ${host} is denied by the policy's egress.deny list` };
  if (policy.egress.allow.matches(host)) return { allowed: true };
  if (policy.egress.default === 'allow') return { allowed: true };
  return { allowed: false, reason: `egress to ${host} is not in the policy's egress.allow list (egress.default: deny)` };
}
