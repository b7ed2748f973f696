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
  /** Running deployments on what the call reaches, by environment, with their running replicas when the provider says. */
  liveDeployments: { environment: EnvironmentRef; count: number; replicas?: number }[];
  /** Backups inside the blast radius. */
  backups?: { count: number; newestAt?: string; onTarget: boolean };
  /**
   * What the call destroys along with its target, for a target that holds other resources (an
   * environment's services and volumes, a project's environments): the person deciding sees what
   * goes, not only the container's name.
   */
  contents?: { type: string; id: string; name?: string; environment?: string }[];
  /** Extra facts a person should see (staged patch id, what a patch deletes, newer backups dropped…). */
  facts?: Record<string, unknown>;
  /**
   * The class the call really has, when the lookup found its payload (a staged patch the commit
   * applies): it replaces the catalogue's worst case.
   */
  payloadClass?: { class: import('../inspect/operation.js').OperationClass; reason: string };
  resolvedAt?: string;
  /** Recent traffic on what the call reaches (the third signal); absent when it was not looked up. */
  traffic?: Traffic;
  /** Names of the lookups made, for the audit trail. */
  lookups?: string[];
}

/**
 * One reached environment's recent traffic. A figure is absent when the provider could not say
 * (an error, a timeout, no permission): absent is unknown, never zero. A database serves TCP, so
 * its use shows in the bytes, never in the requests.
 */
export interface EnvironmentTraffic {
  environment: EnvironmentRef;
  /** HTTP requests the services bound to the target served in the window. */
  requests?: number;
  /** When the last of them was (the start of its sample). */
  lastRequestAt?: string;
  /** Network bytes in and out of those services in the window. */
  bytesIn?: number;
  bytesOut?: number;
  /** Why a figure is missing. */
  unknown?: string;
}

export interface Traffic {
  windowSeconds: number;
  /** When the provider was asked: "last 3 s ago" is counted from here, so the words do not age. */
  measuredAt: string;
  environments: EnvironmentTraffic[];
  /** Set once a policy judged it: the verdict under that policy's traffic_idle_bytes. */
  state?: TrafficState;
  idleBytes?: number;
}

export type TrafficState = 'active' | 'idle' | 'unknown';

/** traffic_idle_bytes when a policy does not set it: 1 MiB per window. */
export const DEFAULT_TRAFFIC_IDLE_BYTES = 1024 * 1024;

function environmentState(t: EnvironmentTraffic, idleBytes: number): TrafficState {
  // either figure alone can prove use; only both together can prove idleness
  const bytes = t.bytesIn !== undefined && t.bytesOut !== undefined ? t.bytesIn + t.bytesOut : undefined;
  if ((t.requests ?? 0) > 0 || (bytes !== undefined && bytes >= idleBytes)) return 'active';
  if (t.requests === undefined || bytes === undefined) return 'unknown';
  return 'idle';
}

/**
 * The contract's verdict: idle when, in every reached environment, no HTTP request was served and
 * the bytes stayed under `idleBytes`; active when any environment shows use; unknown when the
 * provider could not say for an environment and none shows use (and when nothing was looked up).
 */
export function trafficState(traffic: Traffic | undefined, idleBytes: number): TrafficState {
  if (!traffic) return 'unknown';
  const states = traffic.environments.map((e) => environmentState(e, idleBytes));
  if (states.includes('active')) return 'active';
  if (states.includes('unknown')) return 'unknown';
  return 'idle';
}

/** The reached environments whose traffic shows use. */
export function activeEnvironments(traffic: Traffic, idleBytes: number): EnvironmentRef[] {
  return traffic.environments.filter((e) => environmentState(e, idleBytes) === 'active').map((e) => e.environment);
}

/** The scope with its traffic judged under a policy's threshold, so every surface shows the same verdict. */
export function withTrafficState(scope: Scope, idleBytes: number): Scope {
  if (!scope.traffic) return scope;
  return { ...scope, traffic: { ...scope.traffic, state: trafficState(scope.traffic, idleBytes), idleBytes } };
}

export const NOT_NEEDED: Scope = Object.freeze({ status: 'not-needed', environments: [], shared: false, liveDeployments: [] }) as Scope;

export function unresolved(reason: string): Scope {
  return { status: 'unresolved', reason, environments: [], shared: false, liveDeployments: [] };
}

/**
 * The one wording of a live scope, for every surface a person or an agent reads (the agent's
 * message, the hold in the API, CLI and page, the audit detail, the log line, the webhooks):
 * "volume vol-7f3a9d (pgdata) is bound to environments production, staging; live deployments in
 * production (2 replicas), staging; traffic active: production served 1,204 requests in the last
 * 15 min, last 3 s ago; 3 backups stored on the target itself".
 */
export function describeScope(scope: Scope): string {
  if (scope.status === 'not-needed') return 'no lookup needed';
  if (scope.status === 'unresolved') return `scope unresolved: ${scope.reason ?? 'no lookup was made'}`;
  const what = scope.resource ? `${scope.resource.type} ${scope.resource.id}${scope.resource.name ? ` (${scope.resource.name})` : ''}` : 'the target';
  const envs = scope.environments.map((e) => e.name).join(', ') || 'no environment';
  const parts = [`${what} is bound to environment${scope.environments.length === 1 ? '' : 's'} ${envs}`];
  const live = describeExecution(scope);
  if (live) parts.push(live);
  if (scope.traffic) parts.push(describeTraffic(scope.traffic));
  if (scope.contents && scope.contents.length > 0) parts.push(describeContents(scope.contents));
  if (scope.backups) parts.push(scope.backups.count === 0 ? 'no backups' : `${scope.backups.count} backup${scope.backups.count === 1 ? '' : 's'}${scope.backups.onTarget ? ' stored on the target itself' : ''}`);
  // provider-specific facts a person must read (children of a branch, compute activity, what the provider itself refuses)
  const notes = scope.facts?.['notes'];
  if (Array.isArray(notes)) for (const n of notes.slice(0, 12)) if (typeof n === 'string') parts.push(n);
  return parts.join('; ');
}

/** "destroys with it 2 services (api, postgres), 1 volume (pgdata)": what a container's deletion takes along. */
export function describeContents(contents: NonNullable<Scope['contents']>): string {
  const byType = new Map<string, string[]>();
  for (const c of contents) byType.set(c.type, [...(byType.get(c.type) ?? []), c.name || c.id]);
  return `destroys with it ${[...byType].map(([type, names]) => `${names.length} ${type}${names.length === 1 ? '' : 's'} (${names.join(', ')})`).join(', ')}`;
}

/** "live deployments in production (2 replicas), staging", or '' when nothing runs there. */
export function describeExecution(scope: Pick<Scope, 'liveDeployments'>): string {
  const live = (scope.liveDeployments ?? []).filter((d) => d.count > 0);
  if (live.length === 0) return '';
  return `live deployments in ${live.map((d) => `${d.environment.name}${d.replicas !== undefined && d.replicas !== 1 ? ` (${d.replicas} replica${d.replicas === 1 ? '' : 's'})` : ''}`).join(', ')}`;
}

/**
 * "traffic active: production served 1,204 requests in the last 15 min, last 3 s ago, 2.1 MiB in /
 * 9.8 MiB out; staging served no HTTP requests but moved 40.0 MiB in / 3.1 MiB out": figures per
 * environment, with the verdict when a policy has judged them.
 */
export function describeTraffic(traffic: Traffic): string {
  const win = `in the last ${durationText(traffic.windowSeconds)}`;
  const at = Date.parse(traffic.measuredAt);
  const per = traffic.environments.map((t) => {
    const name = t.environment.name;
    const bytesKnown = t.bytesIn !== undefined && t.bytesOut !== undefined;
    const bytes = bytesKnown ? `${bytesText(t.bytesIn!)} in / ${bytesText(t.bytesOut!)} out` : '';
    if (t.requests === undefined && !bytesKnown) return `${name} could not be read (${t.unknown ?? 'no answer'})`;
    const unknownBytes = bytesKnown ? '' : `; network bytes unknown (${t.unknown ?? 'no answer'})`;
    if (t.requests === undefined) return `${name}: HTTP requests unknown (${t.unknown ?? 'no answer'}), ${bytes} ${win}`;
    if (t.requests > 0) {
      const last = t.lastRequestAt && Number.isFinite(at) ? `, last ${durationText(Math.max(0, (at - Date.parse(t.lastRequestAt)) / 1000))} ago` : '';
      return `${name} served ${t.requests.toLocaleString('en-US')} request${t.requests === 1 ? '' : 's'} ${win}${last}${bytesKnown ? `, ${bytes}` : unknownBytes}`;
    }
    if (!bytesKnown) return `${name} served no HTTP requests ${win}${unknownBytes}`;
    if (t.bytesIn! + t.bytesOut! === 0) return `${name} had no traffic ${win}`;
    return `${name} served no HTTP requests ${win} but moved ${bytes}`;
  });
  const body = per.length > 0 ? per.join('; ') : `nothing serves it (no traffic ${win})`;
  return traffic.state ? `traffic ${traffic.state}: ${body}` : `traffic: ${body}`;
}

/** 15 min, 3 s, 2 h: the way a person says a span. */
export function durationText(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** 512 B, 3.4 KiB, 1.2 GiB. */
export function bytesText(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * The parts of any live scope an approval is bound to: what the call reaches and what is at stake.
 * Not traffic: its figures change by the second, so an approval bound to them could never be used;
 * the person saw the traffic, and the rules that match on it are judged again on the retry.
 */
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
