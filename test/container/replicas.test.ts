/**
 * docker/compose.replicas.yaml brought up for real: PostgreSQL in a container, two scopegate
 * replicas on it, and the agent, with one test addition (fixtures/compose.replicas-fake-railway.yaml:
 * Railway's stand-in on the egress network). The replicas act as one scopegate: a call held
 * through replica 1 is listed and approved through replica 2's admin API, the retry goes through
 * once (Railway executes it once), and a second retry is not let through by the used approval.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCOUNT_TOKEN, DOCKER_DIR, FIXTURES, agentCall, composer, dockerOk, ensureImages, freePort, health, jsonLines, uniqueName, waitFor } from './docker.js';

const COMPOSE_FILE = join(DOCKER_DIR, 'compose.replicas.yaml');
const skip = inject('dockerSkipReason');
if (skip) console.warn(`skipping the replicas container test: ${skip}`);

// a deletion the default policy holds for a person: the volume is bound to staging only (src/demo/fake-railway/world.ts)
const HELD_CALL = 'mutation cleanupScratch { volumeDelete(volumeId: "vol-stg-only") }';

interface Answer { status: number; decisionId: string; body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] } }

describe.skipIf(skip !== '')('docker-compose up docker/compose.replicas.yaml (PostgreSQL, two replicas, the agent)', () => {
  const project = uniqueName('replicas');
  let work = '';
  let c: ReturnType<typeof composer>;
  const ports: [number, number] = [0, 0];
  let adminToken = '';
  let dbPassword = '';

  /** The agent service, its proxy pointed at one replica by its service name (both answer to `scopegate`). */
  const viaReplica = async (n: 1 | 2, query: string): Promise<Answer> => {
    const proxy = `http://scopegate-${n}:8080`;
    const env = ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'].flatMap((k) => ['-e', `${k}=${proxy}`]);
    const r = await c.compose(['run', '--rm', '--no-deps', '-T', ...env, 'agent', 'node', '-e', agentCall(query)], 5 * 60_000);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const a = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { status: number; decisionId: string; body: string };
    return { ...a, body: JSON.parse(a.body) as Answer['body'] };
  };
  const admin = (n: 1 | 2, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`http://127.0.0.1:${ports[n - 1]}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });

  beforeAll(async () => {
    await ensureImages();
    work = mkdtempSync(join(tmpdir(), 'sg-replicas-'));
    adminToken = randomBytes(24).toString('base64url');
    dbPassword = randomBytes(18).toString('base64url');
    const envFile = join(work, 'replicas.env');
    writeFileSync(envFile, `PGPASSWORD=${dbPassword}\nSCOPEGATE_ADMIN_TOKEN=${adminToken}\nSCOPEGATE_RAILWAY_RESOLVER_TOKEN=${ACCOUNT_TOKEN}\n`, { mode: 0o600 });
    const pgEnvFile = join(work, 'postgres.env');
    writeFileSync(pgEnvFile, `POSTGRES_PASSWORD=${dbPassword}\n`, { mode: 0o600 });
    const adminPorts = [await freePort()];
    for (let i = 0; i < 5 && adminPorts.length < 2; i++) {
      const p = await freePort();
      if (p !== adminPorts[0]) adminPorts.push(p);
    }
    c = composer(project, [COMPOSE_FILE, join(FIXTURES, 'compose.replicas-fake-railway.yaml')], {
      SCOPEGATE_ENV_FILE: envFile,
      POSTGRES_ENV_FILE: pgEnvFile,
      SG_TEST_FIXTURES: FIXTURES,
      RAILWAY_TOKEN: ACCOUNT_TOKEN,
      // free ports rather than the file's 8081/8082, which a scopegate on this machine may hold
      SCOPEGATE_ADMIN_PORT_1: String(adminPorts[0]),
      SCOPEGATE_ADMIN_PORT_2: String(adminPorts[1]),
    });
    await c.ok(['up', '-d', '--no-build'], 10 * 60_000);
    // each replica's admin port as published on the host's loopback (as docker reports it)
    for (const n of [1, 2] as const) {
      const at = (await c.ok(['port', `scopegate-${n}`, '8081'], 60_000)).trim();
      ports[n - 1] = Number(/^127\.0\.0\.1:(\d+)$/.exec(at)?.[1]);
      expect(ports[n - 1], `scopegate-${n} publishes its admin port on 127.0.0.1 (${at})`).toBeGreaterThan(0);
    }
  });
  afterAll(async () => {
    if (c) {
      const r = await c.down();
      if (r.code !== 0) console.warn(`docker-compose down for ${project}: ${r.stderr}`);
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('postgres and both replicas become healthy; both replicas report the postgres store', async () => {
    for (const s of ['postgres', 'scopegate-1', 'scopegate-2']) {
      const id = await c.id(s);
      await waitFor(`${s} healthy`, async () => ((await health(id)) === 'healthy' ? true : undefined), 180_000);
    }
    for (const n of [1, 2] as const) {
      const r = await fetch(`http://127.0.0.1:${ports[n - 1]}/healthz`);
      expect(r.status).toBe(200);
      expect(JSON.stringify(await r.json())).toMatch(/postgres/i);
    }
    // the store is the postgres container (the stand-in of postgres:15 on this machine), reached on store-net only
    expect(await dockerOk(['exec', '-e', `PGPASSWORD=${dbPassword}`, await c.id('postgres'), 'psql', '-U', 'scopegate', '-d', 'scopegate', '-h', '/var/run/postgresql', '-Atc', 'select 1'])).toBe('1');
  });

  it('a call held through replica 1 is approved through replica 2, and the retry goes through once', async () => {
    const held = await viaReplica(1, HELD_CALL);
    const holdId = held.body.errors?.[0]?.extensions?.['holdId'];
    expect(typeof holdId, JSON.stringify(held)).toBe('string');
    expect(await c.railwaySaw()).not.toContainEqual(expect.objectContaining({ rootFields: ['volumeDelete'] }));

    // replica 2 knows the hold replica 1 made (the store is shared), and takes the approval
    const list = await admin(2, '/api/holds?status=pending');
    expect(list.status).toBe(200);
    expect(JSON.stringify(await list.json())).toContain(String(holdId));
    const approve = await admin(2, `/api/holds/${String(holdId)}/approve`, { method: 'POST', body: JSON.stringify({ reason: 'container test: staging scratch volume' }) });
    expect(approve.status, await approve.clone().text()).toBe(200);

    // the retry, through replica 2, goes through: Railway executes it, once
    const retry = await viaReplica(2, HELD_CALL);
    expect(retry.body.data, JSON.stringify(retry)).toMatchObject({ volumeDelete: true });
    const deletes = (await c.railwaySaw()).filter((o) => o.rootFields.includes('volumeDelete') && o.executed);
    expect(deletes).toHaveLength(1);

    // the approval was for one call: the same call again, through replica 1, does not reach Railway
    const again = await viaReplica(1, HELD_CALL);
    expect(again.body.data?.['volumeDelete']).not.toBe(true);
    expect(again.body.errors?.length).toBeGreaterThan(0);
    expect((await c.railwaySaw()).filter((o) => o.rootFields.includes('volumeDelete') && o.executed)).toHaveLength(1);
    // and the decisions were made by both replicas: each logged its part
    const line = async (svc: string, id: string) => jsonLines(await c.logs(svc)).find((l) => l['decisionId'] === id);
    expect(await line('scopegate-1', held.decisionId)).toMatchObject({ decision: 'hold' });
    expect(await line('scopegate-2', retry.decisionId)).toMatchObject({ decision: 'allow' });
  });
});
