import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { OperationClass } from '../inspect/operation.js';
import { HostMatcher } from '../net/host.js';
import { AddressSet } from '../net/address-set.js';
import { policyShape } from './schema.js';
import { CheckFailed, PolicyError, errorCode, errorMessage, type CheckIssue } from '../errors.js';
import { parseAndLocate, suggestSet } from './yaml-check.js';
import { Secret } from '../custody/secret.js';
import { DEFAULT_TRAFFIC_IDLE_BYTES } from '../scope/scope.js';

export type Action = 'allow' | 'deny' | 'hold';
export type EgressVerdict = { allowed: true } | { allowed: false; reason: string };

export interface GuardedProvider {
  name: string;
  hosts: readonly string[];
  matcher: HostMatcher;
}

/** An environment set, as names (case-insensitive) and ids; the label is what explanations say. */
export interface EnvSet {
  label: string;
  members: ReadonlySet<string>;
}

export interface ScopeMatch {
  resolved?: boolean;
  anyIn?: EnvSet;
  allIn?: EnvSet;
  only?: EnvSet;
  noneIn?: EnvSet;
  shared?: boolean;
  liveDeployments?: boolean;
  backups?: 'none' | 'present' | 'on_target_only' | { olderThanMs: number; text: string };
  project?: ReadonlySet<string>;
  /** Recent traffic on what the call reaches; never matches traffic the provider could not report. */
  traffic?: 'active' | 'idle';
}

export interface Rule {
  name: string;
  description?: string;
  /** Where it is written, for `explain`. */
  line: number;
  providers?: ReadonlySet<string>;
  operations?: ReadonlySet<string>;
  classes?: ReadonlySet<OperationClass>;
  types?: ReadonlySet<string>;
  agents?: ReadonlySet<string>;
  scope?: ScopeMatch;
  action: Action;
}

export interface AgentEntry {
  name: string;
  /** sha256 of the secret: compared in constant time, never kept or shown in the clear. */
  secretHash: Buffer;
}

/**
 * A provider token in scopegate's custody (the policy's `credentials:`): the agent gets a
 * placeholder, scopegate puts this in `header` upstream.
 */
export interface CustodyCredential {
  name: string;
  /** A provider scopegate knows (its adapter's name). */
  provider: string;
  /** Lower-case header name the real token goes in upstream. */
  header: string;
  /** true: the header's value is "Bearer TOKEN"; false: the raw token. */
  bearer: boolean;
  /** Loaded at parse time from secret_env / secret_file; never printable. */
  secret: Secret;
  /** Where it is written in the policy. */
  line: number;
}

/** A policy after validation: frozen, with matchers built once. */
export interface Policy {
  source: string;
  /** sha256 of the file text: which policy decided, in the log line. */
  digest: string;
  mode: 'enforce' | 'monitor';
  egress: {
    default: 'allow' | 'deny';
    allow: HostMatcher;
    deny: HostMatcher;
    /** CONNECT target addresses whose tunnels may carry what names no host: TLS without SNI, HTTP/2 prior knowledge. */
    allowWithoutSni: AddressSet;
  };
  providers: readonly GuardedProvider[];
  sets: ReadonlyMap<string, EnvSet>;
  agents: ReadonlyMap<string, AgentEntry>;
  credentials: ReadonlyMap<string, CustodyCredential>;
  /** With credentials configured, a real provider token from an agent is refused (true) or only reported (false). */
  credentialsRequired: boolean;
  /** Network bytes per window under which an environment with no HTTP requests counts as idle (traffic_idle_bytes). */
  trafficIdleBytes: number;
  rules: readonly Rule[];
  defaults: { noMatch: Action; unknown: Action; unresolved: Action; anonymous: 'allow' | 'deny' };
}

type OneOrMany<T> = T | T[];
interface RawScope {
  resolved?: boolean;
  environments?: { any_in?: OneOrMany<string>; all_in?: OneOrMany<string>; only?: OneOrMany<string>; none_in?: OneOrMany<string> };
  shared?: boolean;
  live_deployments?: boolean;
  backups?: 'none' | 'present' | 'on_target_only' | { older_than: string };
  project?: OneOrMany<string>;
  traffic?: 'active' | 'idle';
}
interface RawRule {
  name: string;
  description?: string;
  match?: { provider?: OneOrMany<string>; operation?: OneOrMany<string>; class?: OneOrMany<string>; type?: OneOrMany<string>; agent?: OneOrMany<string>; scope?: RawScope };
  action: Action;
}
interface RawPolicy {
  version: 1;
  mode?: 'enforce' | 'monitor';
  egress?: { default?: 'allow' | 'deny'; allow?: string[]; deny?: string[]; allow_without_sni?: string[] };
  providers?: Record<string, { hosts?: string[] }>;
  sets?: Record<string, string[]>;
  agents?: Record<string, { secret_env?: string; secret_file?: string; description?: string }>;
  credentials?: Record<string, { provider: string; secret_env?: string; secret_file?: string; header?: string; description?: string }>;
  credentials_required?: boolean;
  traffic_idle_bytes?: number;
  defaults?: { no_match?: Action; unknown?: Action; unresolved?: Action; anonymous?: 'allow' | 'deny' };
  rules?: RawRule[];
}

const list = <T>(v: OneOrMany<T> | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
const DURATION_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * What a policy needs to know of the providers scopegate has: their names and default hosts, and
 * (when given) the headers that carry their credentials, which a custody credential's header
 * must be one of.
 */
export type KnownProviders = ReadonlyMap<string, { defaultHosts: readonly string[]; secretHeaders?: readonly string[]; strippedHeaders?: ReadonlySet<string> }>;

/**
 * A secret named by secret_env (a variable of `env`) or secret_file (a file, trimmed): its value,
 * or undefined after reporting why not under `field`. `label` starts each message (e.g.
 * 'credential "x": '). The value is never part of a message.
 */
function loadSecretRef(
  ref: { secret_env?: string | undefined; secret_file?: string | undefined },
  field: string,
  label: string,
  env: NodeJS.ProcessEnv,
  problem: (field: string, message: string) => void,
): string | undefined {
  if ((ref.secret_env === undefined) === (ref.secret_file === undefined)) {
    problem(field, `${label}give exactly one of secret_env (an environment variable name) or secret_file (a path); secrets are never written in the policy`);
    return undefined;
  }
  if (ref.secret_env !== undefined) {
    const secret = env[ref.secret_env];
    if (!secret) problem(`${field}.secret_env`, `${label}the environment variable ${ref.secret_env} is not set or empty`);
    return secret || undefined;
  }
  try {
    const secret = readFileSync(resolve(ref.secret_file!), 'utf8').trim();
    if (!secret) problem(`${field}.secret_file`, `${label}${ref.secret_file} is empty`);
    return secret || undefined;
  } catch (err) {
    problem(`${field}.secret_file`, `${label}cannot read ${ref.secret_file}: ${errorCode(err) ?? 'error'}`);
    return undefined;
  }
}

export function loadPolicyFile(path: string, providers: KnownProviders, env: NodeJS.ProcessEnv = process.env): Policy {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new PolicyError(`cannot read policy ${path}: ${errorCode(err) ?? errorMessage(err)}`);
  }
  return parsePolicy(text, path, providers, env);
}

/** Throws CheckFailed (every problem, with file:line:column and field) or returns the frozen policy. */
export function parsePolicy(text: string, source: string, known: KnownProviders, env: NodeJS.ProcessEnv = process.env): Policy {
  const located = parseAndLocate(text, source, policyShape([...known.keys()]));
  const raw = located.value as RawPolicy;
  const issues: CheckIssue[] = [];
  const problem = (field: string, message: string): void => {
    const p = located.position(field);
    issues.push({ file: source, line: p.line, column: p.column, field, message });
  };

  const sets = new Map<string, EnvSet>();
  for (const [name, members] of Object.entries(raw.sets ?? {})) {
    if (members.length === 0) problem(`sets.${name}`, 'an empty set matches nothing; list at least one environment name or id');
    sets.set(name, { label: name, members: new Set(members.map((m) => m.toLowerCase())) });
  }
  // the shipped default set, unless the policy defines its own
  if (!sets.has('protected-environments')) {
    sets.set('protected-environments', { label: 'protected-environments', members: new Set(['production', 'prod', 'live', 'main', '@primary', '@protected']) });
  }

  const agents = new Map<string, AgentEntry>();
  for (const [name, a] of Object.entries(raw.agents ?? {})) {
    const field = `agents.${name}`;
    if (name === 'anonymous') {
      problem(field, '"anonymous" is the name of callers without Proxy-Authorization; it cannot have a secret');
      continue;
    }
    const secret = loadSecretRef(a, field, '', env, problem);
    if (secret && secret.length < 12) problem(field, 'the agent secret must be at least 12 characters');
    if (secret) agents.set(name, { name, secretHash: createHash('sha256').update(secret).digest() });
  }

  const credentials = new Map<string, CustodyCredential>();
  for (const [name, c] of Object.entries(raw.credentials ?? {})) {
    const field = `credentials.${name}`;
    const label = `credential "${name}": `;
    const provider = known.get(c.provider);
    if (provider && !(raw.providers ?? {})[c.provider]) {
      problem(`${field}.provider`, `${label}provider ${c.provider} is not guarded by this policy (add it under providers:), so no call would ever use this credential`);
    }
    const header = (c.header ?? 'Authorization').toLowerCase();
    if (provider?.secretHeaders && (!provider.secretHeaders.includes(header) || provider.strippedHeaders?.has(header))) {
      const usable = provider.secretHeaders.filter((h) => !provider.strippedHeaders?.has(h));
      problem(`${field}.header`, `${label}${c.header} is not a header ${c.provider} takes credentials in (${usable.join(', ')})`);
    }
    const secret = loadSecretRef(c, field, label, env, problem);
    if (secret) {
      credentials.set(name, { name, provider: c.provider, header, bearer: header === 'authorization', secret: new Secret(secret), line: located.position(field).line });
    }
  }

  // A bare word names a declared set and nothing else; environments are written as a list. A
  // misspelt set name read as an environment name would match nothing and weaken the rule
  // silently, so an unknown bare word is an error, never a guess.
  const setNames = [...sets.keys()];
  const envSet = (v: OneOrMany<string> | undefined, field: string): EnvSet | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'string') {
      const s = sets.get(v);
      if (s) return s;
      const hint = suggestSet(v, setNames);
      problem(
        field,
        `"${v}" is not a declared set${hint ? `; did you mean "${hint}"?` : ''} (sets: ${setNames.join(', ')}). ` +
          `A single word here names a set (declare it under sets:); to match environments by name, list them: [${v}]`,
      );
      return { label: v, members: new Set() };
    }
    if (v.length === 0) problem(field, 'an empty list matches nothing');
    v.forEach((x, i) => {
      if (sets.has(x)) {
        problem(`${field}[${i}]`, `"${x}" is a set's name, but a list holds environment names; write the set alone (${x}, not [${x}]) or list its members`);
      }
    });
    return { label: `[${v.join(', ')}]`, members: new Set(v.map((x) => x.toLowerCase())) };
  };

  const rules: Rule[] = [];
  const seen = new Set<string>();
  (raw.rules ?? []).forEach((r, i) => {
    const field = `rules[${i}]`;
    if (seen.has(r.name)) problem(`${field}.name`, `a rule named "${r.name}" already exists; rule names must be unique`);
    seen.add(r.name);
    const m = r.match ?? {};
    const classes = list(m.class)?.flatMap((c) => (c === 'destructive' ? ['destructive-recoverable', 'destructive-irreversible'] : [c])) as OperationClass[] | undefined;
    const agentNames = list(m.agent);
    for (const [j, a] of (agentNames ?? []).entries()) {
      if (a !== 'anonymous' && !agents.has(a) && !(raw.agents ?? {})[a]) {
        problem(`${field}.match.agent${agentNames!.length > 1 || Array.isArray(m.agent) ? `[${j}]` : ''}`, `agent "${a}" is not declared under agents: (nor is it "anonymous")`);
      }
    }
    let scope: ScopeMatch | undefined;
    if (m.scope) {
      const s = m.scope;
      const e = s.environments ?? {};
      scope = {
        ...(s.resolved !== undefined ? { resolved: s.resolved } : {}),
        ...(e.any_in !== undefined ? { anyIn: envSet(e.any_in, `${field}.match.scope.environments.any_in`)! } : {}),
        ...(e.all_in !== undefined ? { allIn: envSet(e.all_in, `${field}.match.scope.environments.all_in`)! } : {}),
        ...(e.only !== undefined ? { only: envSet(e.only, `${field}.match.scope.environments.only`)! } : {}),
        ...(e.none_in !== undefined ? { noneIn: envSet(e.none_in, `${field}.match.scope.environments.none_in`)! } : {}),
        ...(s.shared !== undefined ? { shared: s.shared } : {}),
        ...(s.live_deployments !== undefined ? { liveDeployments: s.live_deployments } : {}),
        ...(s.project !== undefined ? { project: new Set(list(s.project)!) } : {}),
        ...(s.traffic !== undefined ? { traffic: s.traffic } : {}),
      };
      if (s.backups !== undefined) {
        if (typeof s.backups === 'string') scope.backups = s.backups;
        else {
          const mm = /^(\d+)(s|m|h|d)$/.exec(s.backups.older_than)!;
          scope.backups = { olderThanMs: Number(mm[1]) * DURATION_MS[mm[2]!]!, text: s.backups.older_than };
        }
      }
      const asksScope = Object.keys(scope).some((k) => k !== 'resolved');
      if (s.resolved === false && asksScope) {
        problem(`${field}.match.scope`, 'this rule can never match: it asks for facts of a resolved scope and for resolved: false');
      }
      if (classes && classes.every((c) => c === 'read' || c === 'benign') && (asksScope || s.resolved !== undefined)) {
        problem(`${field}.match.scope`, 'this rule can never match: reads and benign calls are decided without a scope lookup');
      }
    }
    if (classes && m.type && list(m.type)!.every((t) => t !== 'mutation') && classes.every((c) => c !== 'read' && c !== 'unknown')) {
      problem(`${field}.match`, 'this rule can never match: only mutations have the classes it lists');
    }
    rules.push({
      name: r.name,
      line: located.position(field).line,
      action: r.action,
      ...(r.description ? { description: r.description } : {}),
      ...(m.provider ? { providers: new Set(list(m.provider)) } : {}),
      ...(m.operation ? { operations: new Set(list(m.operation)) } : {}),
      ...(classes ? { classes: new Set(classes) } : {}),
      ...(m.type ? { types: new Set(list(m.type)) } : {}),
      ...(agentNames ? { agents: new Set(agentNames) } : {}),
      ...(scope ? { scope } : {}),
    });
  });
  if (issues.length > 0) throw new CheckFailed(issues);

  const providers: GuardedProvider[] = Object.entries(raw.providers ?? {}).map(([name, p]) => {
    const hosts = p.hosts ?? known.get(name)!.defaultHosts;
    return { name, hosts, matcher: new HostMatcher(hosts) };
  });
  const d = raw.defaults ?? {};
  return Object.freeze({
    source,
    digest: createHash('sha256').update(text).digest('hex').slice(0, 16),
    mode: raw.mode ?? 'enforce',
    egress: {
      default: raw.egress?.default ?? 'allow',
      allow: new HostMatcher(raw.egress?.allow ?? []),
      deny: new HostMatcher(raw.egress?.deny ?? []),
      allowWithoutSni: new AddressSet(raw.egress?.allow_without_sni ?? []),
    },
    providers,
    sets,
    agents,
    credentials,
    credentialsRequired: raw.credentials_required ?? true,
    trafficIdleBytes: raw.traffic_idle_bytes ?? DEFAULT_TRAFFIC_IDLE_BYTES,
    rules,
    // every default fails closed: what no rule decides is held for a person
    defaults: { noMatch: d.no_match ?? 'hold', unknown: d.unknown ?? 'hold', unresolved: d.unresolved ?? 'hold', anonymous: d.anonymous ?? 'allow' },
  });
}

/** The provider guarding `host` (normalised), if any. */
export function guardedBy(policy: Policy, host: string): GuardedProvider | null {
  for (const p of policy.providers) if (p.matcher.matches(host)) return p;
  return null;
}

export type HostRoute = { kind: 'intercept'; provider: GuardedProvider } | { kind: 'tunnel' } | { kind: 'refuse'; reason: string };

/**
 * What a connection to `host` gets, the same on every listener: egress.deny refuses any host,
 * guarded ones included; a guarded host is otherwise intercepted (egress.default never blocks
 * it: its calls are judged one by one); any other host is tunnelled as egress allows.
 */
export function routeHost(policy: Policy, host: string): HostRoute {
  if (policy.egress.deny.matches(host)) return { kind: 'refuse', reason: `egress to ${host} is denied by the policy's egress.deny list` };
  const provider = guardedBy(policy, host);
  if (provider) return { kind: 'intercept', provider };
  const egress = egressVerdict(policy, host);
  return egress.allowed ? { kind: 'tunnel' } : { kind: 'refuse', reason: egress.reason };
}

/** May a connection to a host that is not guarded be tunnelled? The deny list wins over the allow list. */
export function egressVerdict(policy: Policy, host: string): EgressVerdict {
  if (policy.egress.deny.matches(host)) return { allowed: false, reason: `egress to ${host} is denied by the policy's egress.deny list` };
  if (policy.egress.allow.matches(host)) return { allowed: true };
  if (policy.egress.default === 'allow') return { allowed: true };
  return { allowed: false, reason: `egress to ${host} is not in the policy's egress.allow list (egress.default: deny)` };
}
