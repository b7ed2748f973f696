import { normaliseHost } from '../net/host.js';
import { parseAddressEntry } from '../net/address-set.js';
import { OPERATION_CLASSES } from '../inspect/operation.js';
import type { Shape } from './yaml-check.js';

const hostPattern: Shape = {
  kind: 'string',
  check: (s) => {
    const name = s.startsWith('*.') ? s.slice(2) : s;
    return normaliseHost(name) === null ? `"${s}" is not a host name or *.domain pattern` : null;
  },
};

const addressEntry: Shape = {
  kind: 'string',
  check: (s) => {
    const parsed = parseAddressEntry(s);
    return typeof parsed === 'string' ? parsed : null;
  },
};

const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;
const nameString: Shape = { kind: 'string', pattern: NAME, patternHint: 'letters, digits, _ . - (at most 64)' };
const oneOrMany = (item: Shape, hint: string): Shape => ({ kind: 'oneOf', options: [item, { kind: 'array', items: item, minItems: 1 }], hint });

export const ACTIONS = ['allow', 'deny', 'hold'] as const;
export const CLASS_NAMES = [...OPERATION_CLASSES, 'destructive'] as const;

/** What people write for a class, by meaning: never suggest the recoverable class for an irreversible word. */
const CLASS_MEANINGS: Readonly<Record<string, string>> = {
  irrecoverable: 'destructive-irreversible',
  unrecoverable: 'destructive-irreversible',
  nonrecoverable: 'destructive-irreversible',
  permanent: 'destructive-irreversible',
  irreversable: 'destructive-irreversible',
  reversible: 'destructive-recoverable',
  reversable: 'destructive-recoverable',
  recoverable: 'destructive-recoverable',
  delete: 'destructive',
  deletes: 'destructive',
  destroy: 'destructive',
  'read-only': 'read',
  readonly: 'read',
  write: 'modify',
  update: 'modify',
  deploys: 'deploy',
  secret: 'credential',
  token: 'credential',
};

const action: Shape = { kind: 'string', enum: ACTIONS };
const duration: Shape = { kind: 'string', pattern: /^\d+(s|m|h|d)$/, patternHint: 'a duration such as 30m, 24h or 7d' };
/** A set reference (its name) or an inline list of environment names/ids. */
const envSet: Shape = oneOrMany({ kind: 'string', pattern: /^[^\s]{1,128}$/, patternHint: 'a declared set name' }, 'a declared set name, or a list of environment names');

export const SCOPE_SHAPE: Shape = {
  kind: 'object',
  fields: {
    resolved: { shape: { kind: 'boolean' } },
    environments: {
      shape: {
        kind: 'object',
        fields: {
          any_in: { shape: envSet },
          all_in: { shape: envSet },
          only: { shape: envSet },
          none_in: { shape: envSet },
        },
      },
    },
    shared: { shape: { kind: 'boolean' } },
    live_deployments: { shape: { kind: 'boolean' } },
    backups: {
      shape: {
        kind: 'oneOf',
        hint: 'none, present, on_target_only, or {older_than: DURATION}',
        options: [
          { kind: 'string', enum: ['none', 'present', 'on_target_only'] },
          { kind: 'object', fields: { older_than: { shape: duration, required: true } } },
        ],
      },
    },
    project: { shape: oneOrMany({ kind: 'string' }, 'a project id or name, or a list of them') },
    traffic: { shape: { kind: 'string', enum: ['active', 'idle'] } },
  },
};

function ruleShape(providerNames: readonly string[]): Shape {
  return {
  kind: 'object',
  fields: {
    name: { shape: nameString, required: true },
    description: { shape: { kind: 'string' } },
    match: {
      shape: {
        kind: 'object',
        fields: {
          provider: { shape: oneOrMany({ kind: 'string', enum: [...providerNames] }, 'a provider name or a list') },
          operation: { shape: oneOrMany({ kind: 'string', pattern: /^[A-Za-z_][A-Za-z0-9_]*$|^[A-Z]+ \/.*$/, patternHint: 'a GraphQL field name, or "METHOD /path"' }, 'an operation name or a list') },
          class: { shape: oneOrMany({ kind: 'string', enum: CLASS_NAMES, meanings: CLASS_MEANINGS }, 'a class or a list of classes') },
          type: { shape: oneOrMany({ kind: 'string', enum: ['query', 'mutation', 'subscription', 'http'] }, 'an operation type or a list') },
          agent: { shape: oneOrMany(nameString, 'an agent name or a list') },
          scope: { shape: SCOPE_SHAPE },
        },
      },
    },
    action: { shape: action, required: true },
  },
  };
}

/** secret_env's value: a variable's name; never quoted back in a message, in case a token was pasted there. */
const ENV_NAME: Shape = {
  kind: 'string',
  pattern: /^[A-Za-z_][A-Za-z0-9_]*$/,
  patternHint: 'an environment variable name (letters, digits, _); the secret goes in that variable, never in the policy',
  quiet: true,
};

const AGENT_SHAPE: Shape = {
  kind: 'object',
  fields: {
    secret_env: { shape: ENV_NAME },
    secret_file: { shape: { kind: 'string' } },
    description: { shape: { kind: 'string' } },
  },
};

const INLINE_SECRET =
  'a secret is never written in the policy: name an environment variable with secret_env: VARIABLE, or a file with secret_file: PATH (the value is not repeated here)';

/** A provider token in custody: where it comes from and which header it goes in upstream. */
function credentialShape(providerNames: readonly string[]): Shape {
  return {
    kind: 'object',
    quiet: true,
    forbidden: Object.fromEntries(['secret', 'token', 'value', 'password', 'key', 'api_key', 'access_token'].map((k) => [k, INLINE_SECRET])),
    fields: {
      provider: { shape: { kind: 'string', enum: [...providerNames] }, required: true },
      secret_env: { shape: ENV_NAME },
      secret_file: { shape: { kind: 'string', quiet: true } },
      header: { shape: { kind: 'string', pattern: /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, patternHint: 'an HTTP header name, such as Authorization or Project-Access-Token' } },
      description: { shape: { kind: 'string' } },
    },
  };
}

/**
 * The policy file's shape, for the providers this scopegate knows: provider names are checked
 * against them (under `providers:` and in `match.provider`), nothing else depends on them.
 */
export function policyShape(providerNames: readonly string[]): Shape {
  const known = shapes.get(providerNames.join('|'));
  if (known) return known;
  const shape = buildPolicyShape(providerNames);
  shapes.set(providerNames.join('|'), shape);
  return shape;
}

const shapes = new Map<string, Shape>();

function buildPolicyShape(providerNames: readonly string[]): Shape {
  return {
  kind: 'object',
  fields: {
    version: { shape: { kind: 'integer', min: 1, max: 1 }, required: true },
    mode: { shape: { kind: 'string', enum: ['enforce', 'monitor'] } },
    egress: {
      shape: {
        kind: 'object',
        fields: {
          default: { shape: { kind: 'string', enum: ['allow', 'deny'] } },
          allow: { shape: { kind: 'array', items: hostPattern } },
          deny: { shape: { kind: 'array', items: hostPattern } },
          allow_without_sni: { shape: { kind: 'array', items: addressEntry } },
        },
      },
    },
    providers: {
      shape: {
        kind: 'map',
        keyPattern: new RegExp(`^(${providerNames.map((n) => n.replace(/[^a-z0-9-]/g, '')).join('|')})$`),
        keyHint: `known providers: ${providerNames.join(', ')}`,
        values: {
          kind: 'object',
          fields: {
            hosts: { shape: { kind: 'array', items: hostPattern, minItems: 1 } },
          },
        },
      },
    },
    sets: { shape: { kind: 'map', keyPattern: NAME, keyHint: 'letters, digits, _ . -', values: { kind: 'array', items: { kind: 'string' } } } },
    agents: { shape: { kind: 'map', keyPattern: NAME, keyHint: 'letters, digits, _ . -', values: AGENT_SHAPE } },
    credentials: { shape: { kind: 'map', keyPattern: NAME, keyHint: 'letters, digits, _ . -', values: credentialShape(providerNames) } },
    credentials_required: { shape: { kind: 'boolean' } },
    // up to 1 TiB per window: beyond that nothing is idle
    traffic_idle_bytes: { shape: { kind: 'integer', min: 0, max: 2 ** 40 } },
    defaults: {
      shape: {
        kind: 'object',
        fields: {
          no_match: { shape: action },
          unknown: { shape: action },
          unresolved: { shape: action },
          anonymous: { shape: { kind: 'string', enum: ['allow', 'deny'] } },
        },
      },
    },
    rules: { shape: { kind: 'array', items: ruleShape(providerNames) } },
  },
};
}
