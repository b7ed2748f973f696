import { normaliseHost } from '../proxy/host.js';
import { PROVIDERS } from '../providers/registry.js';
import type { Shape } from './yaml-check.js';

const hostPattern: Shape = {
  kind: 'string',
  check: (s) => {
    const name = s.startsWith('*.') ? s.slice(2) : s;
    return normaliseHost(name) === null ? `"${s}" is not a host name or *.domain pattern` : null;
  },
};

export const POLICY_SHAPE: Shape = {
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
        },
      },
    },
    providers: {
      shape: {
        kind: 'map',
        keyPattern: new RegExp(`^(${[...PROVIDERS.keys()].join('|')})$`),
        keyHint: `known providers: ${[...PROVIDERS.keys()].join(', ')}`,
        values: {
          kind: 'object',
          fields: {
            hosts: { shape: { kind: 'array', items: hostPattern, minItems: 1 } },
          },
        },
      },
    },
  },
};
