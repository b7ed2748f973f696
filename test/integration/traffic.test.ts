import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { parsePolicy } from '../../src/policy/policy.js';
import { parseStartArgs } from '../../src/cli/start.js';
import { UsageError } from '../../src/errors.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { POCKETOS, pocketOsWorld, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * The third signal (issue 19): who is using the target right now. The real app in process, a
 * real TLS client through it, and the fake Railway answering httpMetrics and metrics from its
 * traffic model. The policy below decides by traffic alone, so the rule that matched says what
 * scopegate read: `in-use` (active), `idle-target` (idle), `default:unresolved` (unknown).
 */
const GUARDED = 'backboard.railway.com';
const ACCOUNT = { authorization: `Bearer ${POCKETOS.token.account}` };
const POLICY = `version: 1
providers:
  railway: {}
defaults: { no_match: deny, unknown: hold, unresolved: hold }
rules:
  - name: reads
    match: { class: [read, benign] }
    action: allow
  - name: in-use
    match: { class: [destructive, create, modify, deploy], scope: { traffic: active } }
    action: deny
  - name: idle-target
    match: { class: [destructive, create, modify, deploy], scope: { traffic: idle } }
    action: hold
`;

let pki: TestPki;
let fake: FakeRailway;
let sg: InProcess;
let receiver: Server;
const hooks: string[] = [];

beforeAll(async () => {
  pki = makeTestPki('railway', [GUARDED]);
  fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push(body);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  sg = await startInProcess({
    policy: parsePolicy(POLICY, 'traffic.yaml', PROVIDERS),
    providers: PROVIDERS,
    routes: new Map([[GUARDED, { address: '127.0.0.1', port: fake.port }]]),
    upstreamCa: pki.caPem,
    webhooks: [{ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, format: 'slack' }],
    // traffic gives up 250 ms before this: a kept-back metrics answer is a timeout within ~4 s, while
    // a loaded machine's first calls (cold TLS) still get their answers in time
    config: { lookupTimeoutMs: 4000 },
  });
});
afterAll(async () => {
  await sg?.stop();
  await fake?.stop();
  await new Promise((r) => receiver?.close(r));
});
afterEach(() => {
  fake.setMode('normal');
  fake.world = pocketOsWorld();
});

interface Answer {
  code: string;
  rule?: string;
  message: string;
  scope: Record<string, unknown>;
  decisionId: string;
  holdId?: string;
}

async function call(query: string): Promise<Answer> {
  const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: sg.agent, method: 'POST', headers: { 'content-type': 'application/json', ...ACCOUNT }, body: JSON.stringify({ query }) });
  const body = (await res.body.json()) as { errors?: { message: string; extensions: Record<string, unknown> }[] };
  const e = body.errors?.[0];
  return {
    code: String(e?.extensions['code'] ?? 'FORWARDED'),
    rule: e?.extensions['rule'] as string | undefined,
    message: e?.message ?? '',
    scope: (e?.extensions['scope'] as Record<string, unknown> | undefined) ?? {},
    decisionId: String(res.headers['x-scopegate-decision']),
    holdId: e?.extensions['holdId'] as string | undefined,
  };
}

const traffic = (a: Answer) => a.scope['traffic'] as { state: string; windowSeconds: number; environments: { environment: string; requests?: number; bytesIn?: number; bytesOut?: number; unknown?: string }[] };
const logLine = (decisionId: string): Record<string, unknown> => JSON.parse(sg.lines.find((l) => l.includes(`"decisionId":"${decisionId}"`) && l.includes('"msg":"request"'))!) as Record<string, unknown>;

describe('traffic in the live scope, per kind of target', () => {
  it('a database volume whose service serves only TCP reads active (bytes, no requests), never idle', async () => {
    const a = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(a.rule).toBe('in-use');
    const t = traffic(a);
    expect(t.state).toBe('active');
    expect(t.windowSeconds).toBe(900);
    const prod = t.environments.find((e) => e.environment === 'production')!;
    expect(prod.requests).toBe(0);
    expect(prod.bytesIn! + prod.bytesOut!).toBeGreaterThan(300_000_000);
    expect(a.message).toMatch(/traffic active: production served no HTTP requests in the last 15 min but moved [\d.]+ MiB in \/ [\d.]+ MiB out; staging served no HTTP requests in the last 15 min but moved 2\.0 KiB in \/ 2\.9 KiB out/);
    // execution paths, sharper: the running replicas per environment
    expect(a.message).toMatch(/live deployments in production, staging/);
  });

  it('the same volume with its bytes under traffic_idle_bytes everywhere reads idle', async () => {
    fake.world.traffic = fake.world.traffic!.filter((t) => t.serviceId !== POCKETOS.svc.db || t.environmentId !== POCKETOS.env.prod);
    const a = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(a.rule).toBe('idle-target');
    expect(traffic(a).state).toBe('idle');
    expect(a.message).toMatch(/traffic idle: production had no traffic in the last 15 min; staging served no HTTP requests/);
  });

  it('a volume mounted by a quiet staging service reads idle', async () => {
    const a = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
    expect(a.code).toBe('SCOPEGATE_HOLD_PENDING');
    expect(a.rule).toBe('idle-target');
    expect(a.message).toContain('traffic idle: staging had no traffic in the last 15 min');
  });

  it('a service: its own requests, with when the last one was, and its replicas', async () => {
    const a = await call(`mutation { serviceDelete(id: "${POCKETOS.svc.api}") }`);
    expect(a.rule).toBe('in-use');
    expect(a.message).toMatch(/production served 1,204 requests in the last 15 min, last \d+ s ago, [\d.]+ MiB in \/ [\d.]+ MiB out/);
    expect(a.message).toContain('live deployments in production (2 replicas), staging');
    expect(traffic(a).environments.find((e) => e.environment === 'production')!.requests).toBe(1204);
  });

  it('an environment: all of its services (staging: the database’s few bytes only, idle)', async () => {
    const a = await call(`mutation { environmentDelete(id: "${POCKETOS.env.staging}") }`);
    expect(a.rule).toBe('idle-target');
    const staging = traffic(a).environments[0]!;
    expect(staging).toMatchObject({ environment: 'staging', requests: 0, bytesIn: 2000, bytesOut: 3000 });
  });

  it('a project: every environment, active when any is', async () => {
    const a = await call(`mutation { projectDelete(id: "${POCKETOS.projectId}") }`);
    expect(a.rule).toBe('in-use');
    expect(traffic(a).environments.map((e) => e.environment).sort()).toEqual(['pr-12', 'production', 'staging']);
    expect(a.message).toMatch(/pr-12 had no traffic in the last 15 min/);
  });

  it('a deployment: its service in its environment (production busy, pr-12 idle)', async () => {
    const busy = await call(`mutation { deploymentRemove(id: "${POCKETOS.deployment.apiProd}") }`);
    expect(busy.rule).toBe('in-use');
    expect(busy.message).toMatch(/production served 1,204 requests/);
    const quiet = await call(`mutation { deploymentRemove(id: "${POCKETOS.deployment.apiPr12}") }`);
    expect(quiet.rule).toBe('idle-target');
  });

  it('an environment with traffic set by the test: the figures are the world’s', async () => {
    fake.world.traffic!.push({ serviceId: POCKETOS.svc.api, environmentId: POCKETOS.env.pr12, agoSeconds: 30, requests: 7, rxBytes: 10, txBytes: 20 });
    const a = await call(`mutation { environmentDelete(id: "${POCKETOS.env.pr12}") }`);
    expect(a.rule).toBe('in-use');
    expect(traffic(a).environments[0]).toMatchObject({ environment: 'pr-12', requests: 7, bytesIn: 10, bytesOut: 20 });
    expect(a.message).toMatch(/pr-12 served 7 requests in the last 15 min, last \d+ s ago, 10 B in \/ 20 B out/);
  });
});

describe('traffic the provider cannot report is unknown, never idle', () => {
  it('an error on both lookups: unknown, so no traffic rule matches and the unresolved default decides', async () => {
    fake.world.fieldErrors = { httpMetrics: 'Internal server error', metrics: 'Internal server error' };
    const a = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
    expect(a.rule).toBe('default:unresolved');
    expect(a.scope['status']).toBe('resolved');
    expect(traffic(a).state).toBe('unknown');
    expect(a.message).toMatch(/traffic unknown: staging could not be read \(HTTP requests: ScopegateHttpTraffic: the provider said "Internal server error"; network bytes: ScopegateNetworkTraffic: the provider said "Internal server error"\)/);
    expect(a.message).toMatch(/rule in-use asks for it/);
  });

  it('no permission for the network metrics: a TCP-only target is unknown, not idle', async () => {
    fake.world.fieldErrors = { metrics: 'Not Authorized' };
    const a = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    expect(a.rule).toBe('default:unresolved');
    expect(a.message).toMatch(/production served no HTTP requests in the last 15 min; network bytes unknown \(network bytes: ScopegateNetworkTraffic: the provider said "Not Authorized"\)/);
  });

  it('no permission for the bytes, yet 1,204 requests prove use: active', async () => {
    fake.world.fieldErrors = { metrics: 'Not Authorized' };
    const a = await call(`mutation { serviceDelete(id: "${POCKETOS.svc.api}") }`);
    expect(a.rule).toBe('in-use');
    expect(traffic(a).state).toBe('active');
  });

  it('a metrics answer that does not come in time: the traffic is unknown, the scope stays resolved', async () => {
    const held = fake.holdField('metrics');
    try {
      const a = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
      expect(a.scope['status']).toBe('resolved');
      expect(a.rule).toBe('default:unresolved');
      expect(a.message).toMatch(/staging served no HTTP requests in the last 15 min; network bytes unknown \(network bytes: ScopegateNetworkTraffic: timed out\)/);
      // the backups were looked up beside it and kept: only the traffic was lost to the wait
      expect(a.scope['backups']).toEqual({ count: 0, onTarget: true });
    } finally {
      held.release();
    }
  });
});

describe('traffic lookups run beside the others, under the same deadline', () => {
  it('a kept-back metrics answer does not hold up the backups and HTTP lookups: all are in flight at the fake at once', async () => {
    const held = fake.holdField('metrics');
    const before = fake.received.length;
    const answer = call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    await held.arrived;
    const mine = () => fake.received.slice(before);
    // bounded wait for the other lookups of the same call to be answered while metrics is still kept back
    for (let i = 0; i < 100; i++) {
      const done = mine().filter((r) => r.answeredAt && (r.operationName === 'ScopegateBackups' || r.operationName === 'ScopegateHttpTraffic'));
      if (done.length >= 3) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const network = mine().find((r) => r.operationName === 'ScopegateNetworkTraffic')!;
    expect(network.answeredAt).toBeUndefined();
    expect(mine().filter((r) => r.operationName === 'ScopegateBackups' && r.answeredAt)).toHaveLength(2);
    expect(mine().filter((r) => r.operationName === 'ScopegateHttpTraffic' && r.answeredAt)).toHaveLength(1);
    held.release();
    const a = await answer;
    expect(a.rule).toBe('in-use');
    expect(a.message).toMatch(/3 backups stored on the target itself/);
    expect(traffic(a).state).toBe('active');
  });

  it('one HTTP lookup and one network lookup per call, whatever the number of environments and services', async () => {
    const before = fake.received.length;
    await call(`mutation { projectDelete(id: "${POCKETOS.projectId}") }`);
    const names = fake.received.slice(before).map((r) => r.operationName);
    expect(names.filter((n) => n === 'ScopegateHttpTraffic')).toHaveLength(1);
    expect(names.filter((n) => n === 'ScopegateNetworkTraffic')).toHaveLength(1);
    const http = fake.received.slice(before).find((r) => r.operationName === 'ScopegateHttpTraffic')!;
    // every (environment, service) pair of the project, each its own aliased httpMetrics
    expect(Object.keys(http.variables).filter((k) => /^s\d+$/.test(k))).toHaveLength(5);
  });
});

describe('the same words wherever a person or an agent reads the decision', () => {
  it('the agent’s message, the log line, the audit detail, the hold in the API and the webhook all say the traffic', async () => {
    // a call no earlier test held (a retry of a pending call joins its hold, with the scope it was held with)
    fake.world.traffic!.push({ serviceId: POCKETOS.svc.api, environmentId: POCKETOS.env.pr12, agoSeconds: 0, requests: 0, rxBytes: 100, txBytes: 100 });
    const a = await call(`mutation { environmentDelete(id: "${POCKETOS.env.pr12}") }`);
    expect(a.holdId).toBeTruthy();
    const words = 'traffic idle: pr-12 served no HTTP requests in the last 15 min but moved 100 B in / 100 B out';
    expect(a.message).toContain(words);
    expect(String(logLine(a.decisionId)['scope'])).toContain(words);
    const auth = { authorization: `Bearer ${sg.app.adminToken.token}` };
    const admin = `http://127.0.0.1:${sg.at.admin.port}`;
    const hold = (await (await request(`${admin}/api/holds/${a.holdId}`, { headers: auth })).body.json()) as Record<string, unknown>;
    expect(String(hold['scopeText'])).toContain(words);
    expect((hold['scope'] as { traffic: { state: string } }).traffic.state).toBe('idle');
    for (let i = 0; i < 100 && !hooks.some((h) => h.includes(a.holdId!)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(hooks.find((h) => h.includes(a.holdId!))).toContain(words);
    // a decision that is not a hold is audited with the same words
    const denied = await call(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`);
    const audit = (await (await request(`${admin}/api/audit`, { headers: auth })).body.json()) as { events: { decisionId: string; detail?: { scope?: string } }[] };
    const entry = audit.events.find((e) => e.decisionId === denied.decisionId);
    expect(entry?.detail?.scope).toContain('traffic active: production served no HTTP requests in the last 15 min but moved');
  });
});

describe('--traffic-window', () => {
  it('defaults to 15 min; 0 turns the lookups off; a window under a minute is refused', () => {
    const window = (args: string[]) => {
      const c = parseStartArgs(args, {});
      return c === 'help' ? null : c.trafficWindowMs;
    };
    expect(window([])).toBe(900_000);
    expect(window(['--traffic-window', '1h'])).toBe(3_600_000);
    expect(window(['--traffic-window', '0'])).toBe(0);
    expect(() => window(['--traffic-window', '30s'])).toThrow(UsageError);
    expect(() => window(['--traffic-window', 'soon'])).toThrow(/--traffic-window "soon" must be a duration/);
  });

  it('off: no metrics are asked for, the traffic is unknown, and a traffic rule never matches', async () => {
    const off = await startInProcess({
      policy: parsePolicy(POLICY, 'traffic.yaml', PROVIDERS),
      providers: PROVIDERS,
      routes: new Map([[GUARDED, { address: '127.0.0.1', port: fake.port }]]),
      upstreamCa: pki.caPem,
      config: { trafficWindowMs: 0 },
    });
    try {
      const before = fake.received.length;
      const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: off.agent, method: 'POST', headers: { 'content-type': 'application/json', ...ACCOUNT }, body: JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }` }) });
      const body = (await res.body.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      expect(body.errors[0]!.extensions['rule']).toBe('default:unresolved');
      expect(body.errors[0]!.message).not.toContain('traffic active');
      expect(fake.received.slice(before).some((r) => r.rootFields.includes('httpMetrics') || r.rootFields.includes('metrics'))).toBe(false);
      expect(fake.received.slice(before).some((r) => r.operationName === 'ScopegateBackups')).toBe(true);
    } finally {
      await off.stop();
    }
  });
});

describe('traffic answers are cached per credential like the other lookups', () => {
  it('a second change to the same services reuses the answer (the moving dates are not the key); a destructive call asks again', async () => {
    const cached = await startInProcess({
      policy: parsePolicy(POLICY, 'traffic.yaml', PROVIDERS),
      providers: PROVIDERS,
      routes: new Map([[GUARDED, { address: '127.0.0.1', port: fake.port }]]),
      upstreamCa: pki.caPem,
      config: { lookupCacheMs: 60_000 },
    });
    const send = (query: string) => request(`https://${GUARDED}/graphql/v2`, { dispatcher: cached.agent, method: 'POST', headers: { 'content-type': 'application/json', ...ACCOUNT }, body: JSON.stringify({ query }) }).then((r) => r.body.json());
    const upsert = (name: string) => `mutation { variableUpsert(input: { projectId: "${POCKETOS.projectId}", environmentId: "${POCKETOS.env.staging}", serviceId: "${POCKETOS.svc.api}", name: "${name}", value: "1" }) }`;
    try {
      const before = fake.received.length;
      const asked = () => fake.received.slice(before).filter((r) => r.operationName === 'ScopegateHttpTraffic').length;
      await send(upsert('A'));
      expect(asked()).toBe(1);
      await send(upsert('B'));
      expect(asked()).toBe(1);
      await send(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`);
      expect(asked()).toBe(2);
    } finally {
      await cached.stop();
    }
  });
});
