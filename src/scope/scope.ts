/**
 * What a call's target is bound to, as the provider said at the moment of the call. Plain data:
 * the policy matches on it, the agent's answer and the approval page show it, an approval binds
 * to its fingerprint. Provider-agnostic: each adapter maps its own model onto these fields.
 */
export interface EnvironmentRef {
  id: string;
  name: string;
  /**
   * The provider marks this environment as the project's primary one (for example the
   * oldest non-ephemeral environment, "typically production"). Policies can protect it by that mark,
   * which a rename cannot take away.
   */
  primary?: boolean;
  /**
   * The provider marks this environment as protected (Neon's protected branches). Policies can
   * protect it by that mark with the set member "@protected".
   */
  protected?: boolean;
}

export interface Scope {
  /**
   * resolved: the provider answered and the answer covers everything the call reaches;
   * unresolved: a lookup failed, timed out, or saw only part of the project;
   * not-needed: the operation's class needs no lookup (reads, benign calls).
   */
  status: 'resolved' | 'unresolved' | 'not-needed';
  /** Why the scope is unresolved, or notes on how it was resolved. */
  reason?: string;
  resource?: { type: string; id: string; name?: string };
  project?: { id: string; name?: string };
  /** Every environment the call reaches (for a project-level resource, all of the project's). */
  environments: EnvironmentRef[];
  /** The target is bound to more than one environment. */
  shared: boolean;
  /** Running deployments on what the call reaches, by environment. */
  liveDeployments: { environment: EnvironmentRef; count: number }[];
  /** Backups inside the blast radius. */
  backups?: { count: number; newestAt?: string; onTarget: boolean };
  /** Extra facts a person should see (staged patch id, what a patch deletes, newer backups dropped…). */
  facts?: Record<string, unknown>;
  /**
   * The class the call really has, when the lookup found its payload (a staged patch the commit
   * applies): it replaces the catalogue's worst case.
   */
  payloadClass?: { class: import('../inspect/operation.js').OperationClass; reason: string };
  resolvedAt?: string;
  /** Names of the lookups made, for the audit trail. */
  lookups?: string[];
}

export const NOT_NEEDED: Scope = Object.freeze({ status: 'not-needed', environments: [], shared: false, liveDeployments: [] }) as Scope;

export function unresolved(reason: string): Scope {
  return { status: 'unresolved', reason, environments: [], shared: false, liveDeployments: [] };
}

/** One line for an agent or a person: "volume vol-7f3a9d is bound to environments production, staging". */
export function describeScope(scope: Scope): string {
  if (scope.status === 'not-needed') return 'no lookup needed';
  if (scope.status === 'unresolved') return `scope unresolved: ${scope.reason ?? 'no lookup was made'}`;
  const what = scope.resource ? `${scope.resource.type} ${scope.resource.id}${scope.resource.name ? ` (${scope.resource.name})` : ''}` : 'the target';
  const envs = scope.environments.map((e) => e.name).join(', ') || 'no environment';
  const parts = [`${what} is bound to environment${scope.environments.length === 1 ? '' : 's'} ${envs}`];
  const live = scope.liveDeployments.filter((d) => d.count > 0);
  if (live.length > 0) parts.push(`live deployments in ${live.map((d) => d.environment.name).join(', ')}`);
  if (scope.backups) parts.push(scope.backups.count === 0 ? 'no backups' : `${scope.backups.count} backup${scope.backups.count === 1 ? '' : 's'}${scope.backups.onTarget ? ' stored on the target itself' : ''}`);
  // provider-specific facts a person must read (children of a branch, compute activity, what the provider itself refuses)
  const notes = scope.facts?.['notes'];
  if (Array.isArray(notes)) for (const n of notes.slice(0, 12)) if (typeof n === 'string') parts.push(n);
  return parts.join('; ');
}

/** The parts of any live scope an approval is bound to: what the call reaches and what is at stake. */
export function genericScopeEssence(s: Scope): Record<string, unknown> {
  return {
    status: s.status,
    resource: s.resource ? { type: s.resource.type, id: s.resource.id } : null,
    project: s.project?.id ?? null,
    environments: s.environments.map((e) => e.id).sort(),
    shared: s.shared,
    live: s.liveDeployments.filter((d) => d.count > 0).map((d) => d.environment.id).sort(),
    backups: s.backups ? { count: s.backups.count, onTarget: s.backups.onTarget } : null,
    payloadClass: s.payloadClass?.class ?? null,
  };
}
