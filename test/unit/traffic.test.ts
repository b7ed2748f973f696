import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, validate } from 'graphql';
import { PROVIDERS } from '../../src/providers/registry.js';
import { CheckFailed } from '../../src/errors.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { policyJsonSchema } from '../../src/policy/json-schema.js';
import type { Operation } from '../../src/inspect/operation.js';
import { describeScope, describeTraffic, trafficState, withTrafficState, type EnvironmentTraffic, type Scope, type Traffic } from '../../src/scope/scope.js';
import { railwayTraffic, readHttpSamples, readNetwork } from '../../src/providers/railway/traffic.js';
import { httpTrafficQuery, NETWORK_TRAFFIC } from '../../src/providers/railway/queries.js';
import { loadRailwaySubsetSchema } from '../fixtures/fake-railway/index.js';
import { ROOT } from '../helpers/proxy-process.js';

/** The third signal without sockets: the verdict, the words, the policy condition, Railway's answers read. */

const prod = { id: 'env-prod', name: 'production' };
const staging = { id: 'env-stg', name: 'staging' };
const MiB = 1024 * 1024;
const NOW = '2026-12-03T12:00:00.000Z';
const traffic = (...environments: EnvironmentTraffic[]): Traffic => ({ windowSeconds: 900, measuredAt: NOW, environments });
const quiet = (environment = staging): EnvironmentTraffic => ({ environment, requests: 0, bytesIn: 0, bytesOut: 0 });

describe('the verdict: idle only when every reached environment is known quiet', () => {
  it.each<[string, Traffic | undefined, string]>([
    ['no lookup made', undefined, 'unknown'],
    ['nothing serves the target', traffic(), 'idle'],
    ['all quiet', traffic(quiet(prod), quiet(staging)), 'idle'],
    ['bytes under the threshold', traffic({ environment: prod, requests: 0, bytesIn: MiB / 2 - 1, bytesOut: MiB / 2 }), 'idle'],
    ['bytes at the threshold (a database over TCP)', traffic({ environment: prod, requests: 0, bytesIn: MiB / 2, bytesOut: MiB / 2 }), 'active'],
    ['one request', traffic({ environment: prod, requests: 1, bytesIn: 0, bytesOut: 0 }), 'active'],
    ['one environment unknown, the other quiet', traffic(quiet(prod), { environment: staging, unknown: 'timed out' }), 'unknown'],
    ['one environment unknown, the other busy', traffic({ environment: prod, requests: 5, bytesIn: 0, bytesOut: 0 }, { environment: staging, unknown: 'timed out' }), 'active'],
    ['requests known zero, bytes unknown', traffic({ environment: prod, requests: 0, unknown: 'forbidden' }), 'unknown'],
    ['requests unknown, bytes over', traffic({ environment: prod, bytesIn: 5 * MiB, bytesOut: 0, unknown: 'forbidden' }), 'active'],
    ['requests unknown, bytes zero', traffic({ environment: prod, bytesIn: 0, bytesOut: 0, unknown: 'forbidden' }), 'unknown'],
  ])('%s → %s', (_name, t, want) => {
    expect(trafficState(t, MiB)).toBe(want);
  });
  it('the threshold is the policy’s', () => {
    const t = traffic({ environment: prod, requests: 0, bytesIn: 1000, bytesOut: 1000 });
    expect(trafficState(t, 1000)).toBe('active');
    expect(trafficState(t, 2001)).toBe('idle');
  });
});

describe('the words', () => {
  it('requests, when the last one was, bytes; TCP-only environments say bytes, never requests', () => {
    const t = withTrafficState(
      {
        status: 'resolved', environments: [prod, staging], shared: true, liveDeployments: [{ environment: prod, count: 1, replicas: 2 }, { environment: staging, count: 1, replicas: 1 }],
        resource: { type: 'volume', id: 'vol-1', name: 'pgdata' },
        traffic: traffic({ environment: prod, requests: 1204, lastRequestAt: '2026-12-03T11:59:57.000Z', bytesIn: 2 * MiB, bytesOut: 10 * MiB }, { environment: staging, requests: 0, bytesIn: 40 * MiB, bytesOut: 3 * MiB }),
        backups: { count: 3, onTarget: true },
      },
      MiB,
    );
    expect(describeScope(t)).toBe(
      'volume vol-1 (pgdata) is bound to environments production, staging; live deployments in production (2 replicas), staging; ' +
        'traffic active: production served 1,204 requests in the last 15 min, last 3 s ago, 2.0 MiB in / 10.0 MiB out; ' +
        'staging served no HTTP requests in the last 15 min but moved 40.0 MiB in / 3.0 MiB out; 3 backups stored on the target itself',
    );
  });
  it('quiet, unknown and partly unknown environments', () => {
    expect(describeTraffic(traffic(quiet()))).toBe('traffic: staging had no traffic in the last 15 min');
    expect(describeTraffic({ ...traffic({ environment: prod, unknown: 'HTTP requests: timed out; network bytes: timed out' }), state: 'unknown' })).toBe(
      'traffic unknown: production could not be read (HTTP requests: timed out; network bytes: timed out)',
    );
    expect(describeTraffic(traffic({ environment: prod, requests: 0, unknown: 'network bytes: Not Authorized' }))).toBe(
      'traffic: production served no HTTP requests in the last 15 min; network bytes unknown (network bytes: Not Authorized)',
    );
    expect(describeTraffic({ windowSeconds: 3600, measuredAt: NOW, environments: [] })).toBe('traffic: nothing serves it (no traffic in the last 60 min)');
  });
});

const op = (): Operation => ({
  provider: 'railway', type: 'mutation', effect: 'write', name: 'volumeDelete', alias: null, operationName: null, args: {}, class: 'destructive-irreversible',
  target: { type: 'volume', id: 'vol-1', with: {} }, reach: null, flags: [], classReason: null, payloadKind: null, conditional: false,
});
const scoped = (t: Traffic | undefined): Scope => ({ status: 'resolved', environments: [prod], shared: false, liveDeployments: [], ...(t ? { traffic: t } : {}) });

describe('scope: { traffic: active | idle }', () => {
  const policy = parsePolicy(
    [
      'version: 1',
      'traffic_idle_bytes: 4096',
      'defaults: { no_match: allow, unresolved: hold }',
      'rules:',
      '  - name: busy',
      '    match: { class: destructive, scope: { traffic: active } }',
      '    action: deny',
      '  - name: quiet',
      '    match: { class: destructive, scope: { traffic: idle } }',
      '    action: allow',
      '',
    ].join('\n'),
    'traffic.yaml',
    PROVIDERS,
  );
  const decide = (t: Traffic | undefined) => evaluate(policy, { agent: 'a', operation: op(), scope: scoped(t) });

  it('active matches active, and says where', () => {
    const v = decide(traffic({ environment: prod, requests: 3, bytesIn: 0, bytesOut: 0 }));
    expect([v.action, v.rule]).toEqual(['deny', 'busy']);
    expect(v.because).toContain('it is in use: traffic in production');
  });
  it('idle matches idle, under the policy’s own threshold', () => {
    const v = decide(traffic({ environment: prod, requests: 0, bytesIn: 1000, bytesOut: 1000 }));
    expect([v.action, v.rule]).toEqual(['allow', 'quiet']);
    expect(v.because.join()).toMatch(/under 4.0 KiB of network traffic in the last 15 min/);
    expect(decide(traffic({ environment: prod, requests: 0, bytesIn: 4000, bytesOut: 1000 })).rule).toBe('busy');
  });
  it('unknown matches neither: the unresolved default decides (not no_match, which would allow)', () => {
    for (const t of [undefined, traffic({ environment: prod, unknown: 'timed out' })]) {
      const v = decide(t);
      expect([v.action, v.rule]).toEqual(['hold', 'default:unresolved']);
      expect(v.because[0]).toMatch(/the traffic is unknown .*rule busy asks for it/);
    }
  });
  it('a traffic condition never matches an unresolved scope', () => {
    expect(evaluate(policy, { agent: 'a', operation: op(), scope: { status: 'unresolved', reason: 'x', environments: [], shared: false, liveDeployments: [] } }).rule).toBe('default:unresolved');
  });
  it('traffic_idle_bytes defaults to 1 MiB; policy check knows both settings and refuses what is not one of them', () => {
    expect(parsePolicy('version: 1\n', 'p.yaml', PROVIDERS).trafficIdleBytes).toBe(MiB);
    const problems = (text: string): string[] => {
      try {
        parsePolicy(text, 'p.yaml', PROVIDERS);
        return [];
      } catch (err) {
        if (!(err instanceof CheckFailed)) throw err;
        return err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`);
      }
    };
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { scope: { traffic: busy } }\n    action: deny\n')[0]).toMatch(/^4:\d+ rules\[0\]\.match\.scope\.traffic: .*active.*idle/);
    expect(problems('version: 1\ntraffic_idle_bytes: -1\n')[0]).toMatch(/^2:\d+ traffic_idle_bytes/);
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { class: read, scope: { traffic: idle } }\n    action: deny\n')[0]).toMatch(/can never match: reads and benign calls/);
  });
  it('the JSON Schema has both', () => {
    const schema = JSON.parse(policyJsonSchema([...PROVIDERS.keys()])) as { properties: Record<string, { properties?: Record<string, unknown> }> };
    expect(schema.properties['traffic_idle_bytes']).toEqual({ type: 'integer', minimum: 0, maximum: 2 ** 40 });
    expect(JSON.stringify(schema)).toContain('"traffic":{"type":"string","enum":["active","idle"]}');
  });
  it('the shipped default policy decides by no traffic (it adds no hold to reads, staging changes or redeploys) and parses with its commented example uncommented', () => {
    const text = readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8');
    expect(parsePolicy(text, 'default.yaml', PROVIDERS).rules.some((r) => r.scope?.traffic)).toBe(false);
    const uncommented = text.replace(/^ {2}# (- name: never-destroy-in-use\n(?: {2}# .*\n)+)/m, (m) => m.replace(/^ {2}# /gm, '  '));
    expect(uncommented).not.toBe(text);
    const p = parsePolicy(uncommented, 'default.yaml', PROVIDERS);
    expect(p.rules.find((r) => r.name === 'never-destroy-in-use')?.scope?.traffic).toBe('active');
  });
});

describe('Railway: the traffic lookups and their answers', () => {
  const schema = loadRailwaySubsetSchema();
  it('validate against the SDL subset (one pair and many)', () => {
    for (const q of [httpTrafficQuery(1), httpTrafficQuery(7), NETWORK_TRAFFIC]) expect(validate(schema, parse(q)).map((e) => e.message)).toEqual([]);
  });
  it('httpMetrics samples: summed, the last non-zero one remembered; no samples is zero', () => {
    expect(readHttpSamples({ samples: [{ ts: 100, value: 3 }, { ts: 103, value: 0 }, { ts: 97, value: 2 }] })).toEqual({ requests: 5, lastTs: 100 });
    expect(readHttpSamples({ samples: [] })).toEqual({ requests: 0 });
  });
  it('metrics: only the bound services count, GB read as GiB; an answer not broken down cannot be attributed', () => {
    const bound = new Map([['env-prod', new Set(['svc-db'])]]);
    const r = readNetwork(
      [
        { measurement: 'NETWORK_RX_GB', tags: { environmentId: 'env-prod', serviceId: 'svc-db' }, values: [{ ts: 1, value: 0.5 }, { ts: 2, value: 0.5 }] },
        { measurement: 'NETWORK_TX_GB', tags: { environmentId: 'env-prod', serviceId: 'svc-db' }, values: [{ ts: 1, value: 2 }] },
        { measurement: 'NETWORK_TX_GB', tags: { environmentId: 'env-prod', serviceId: 'svc-api' }, values: [{ ts: 1, value: 99 }] },
      ],
      bound,
    );
    expect(r).toEqual({ byEnv: new Map([['env-prod', { rx: 1024 ** 3, tx: 2 * 1024 ** 3 }]]) });
    expect(readNetwork([{ measurement: 'NETWORK_TX_GB', tags: {}, values: [] }], bound)).toEqual({ problem: expect.stringMatching(/not break the network metrics down/) });
  });
  it('one lookup failing leaves the other’s figure; an environment nothing serves costs no lookup', async () => {
    const asked: string[] = [];
    const t = await railwayTraffic(
      { projectId: 'p', environments: [prod, staging], bound: new Map([['env-prod', new Set(['svc-api'])], ['env-stg', new Set()]]), windowSeconds: 900, now: Date.parse(NOW) },
      async (name, _q, variables) => {
        asked.push(name);
        if (name === 'ScopegateNetworkTraffic') throw new Error('ScopegateNetworkTraffic: timed out');
        expect(variables).toMatchObject({ e0: 'env-prod', s0: 'svc-api', stepSeconds: 3, startDate: '2026-12-03T11:45:00.000Z', endDate: NOW });
        return { h0: { samples: [{ ts: Date.parse(NOW) / 1000 - 3, value: 9 }] } };
      },
    );
    expect(asked.sort()).toEqual(['ScopegateHttpTraffic', 'ScopegateNetworkTraffic']);
    expect(t.environments).toEqual([
      { environment: prod, requests: 9, lastRequestAt: '2026-12-03T11:59:57.000Z', unknown: 'network bytes: ScopegateNetworkTraffic: timed out' },
      { environment: staging, requests: 0, bytesIn: 0, bytesOut: 0 },
    ]);
    expect(trafficState(t, MiB)).toBe('active');
  });
});
