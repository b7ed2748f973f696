import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { composeConfig, mounts, published, type ComposeConfig, type Service } from '../helpers/compose-config.js';
import { ROOT } from '../helpers/proxy-process.js';

/**
 * docker/compose.replicas.yaml as `docker-compose config` normalises it (the container engineer
 * runs it for real): two replicas that act as one (one store, one CA, one admin token, one name
 * on the agent's network), a store only they reach, an agent with no way out but through them,
 * the approval page on the host's loopback only, and no secret written into the file.
 */
const DOCKER = join(ROOT, 'docker');
const FILE = join(DOCKER, 'compose.replicas.yaml');
const HAVE_COMPOSE = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).error === undefined;
if (!HAVE_COMPOSE) console.warn('skipping the replicas compose checks: docker-compose is not installed (apt-get install docker-compose)');

const REPLICAS = ['scopegate-1', 'scopegate-2'];

describe.skipIf(!HAVE_COMPOSE)('docker/compose.replicas.yaml', () => {
  let config: ComposeConfig;
  const svc = (name: string): Service => {
    expect(config.services[name], `service ${name}`).toBeDefined();
    return config.services[name]!;
  };
  const networks = (s: Service): Record<string, Service | null> => (Array.isArray(s['networks']) ? Object.fromEntries((s['networks'] as string[]).map((n) => [n, null])) : (s['networks'] ?? {}));

  beforeAll(async () => {
    // the user's env files are git-ignored; the committed examples stand in for them
    config = await composeConfig(FILE, { SCOPEGATE_ENV_FILE: 'replicas.env.example', POSTGRES_ENV_FILE: 'postgres.env.example', RAILWAY_TOKEN: '' });
  });

  it('two replicas on one Postgres store, one CA, one admin token; each its own data dir', () => {
    const [one, two] = REPLICAS.map(svc) as [Service, Service];
    for (const s of [one, two]) {
      expect(s['environment']['SCOPEGATE_STORE']).toMatch(/^postgres:\/\/scopegate@postgres:5432\/scopegate$/);
      expect(s['environment']['SCOPEGATE_ADMIN_TOKEN']).toBeTruthy();
      expect(s['environment']['PGPASSWORD']).toBe(svc('postgres')['environment']['POSTGRES_PASSWORD']);
      expect(s['depends_on']).toMatchObject({ postgres: { condition: 'service_healthy' }, 'scopegate-init': { condition: 'service_completed_successfully' } });
      expect(s['healthcheck']).toBeDefined();
    }
    expect(one['environment']['SCOPEGATE_ADMIN_TOKEN']).toBe(two['environment']['SCOPEGATE_ADMIN_TOKEN']);
    const ca = (s: Service) => mounts(s).find((m) => m.target === '/var/lib/scopegate/ca')?.source;
    const data = (s: Service) => mounts(s).find((m) => m.target === '/var/lib/scopegate/data')?.source;
    expect(ca(one)).toBe('scopegate-ca');
    expect(ca(two)).toBe('scopegate-ca');
    expect(data(one)).toBeDefined();
    expect(data(one)).not.toBe(data(two));
    expect(svc('postgres')['healthcheck']['test']).toContain('pg_isready');
  });

  it('the agent reaches one name that is both replicas, on an internal network, and nothing else; the store is on a network the agent is not on', () => {
    const agent = svc('agent');
    const agentNets = Object.keys(networks(agent));
    for (const n of agentNets) expect(config.networks[n]?.['internal'], `network ${n}`).toBe(true);
    expect(agent['environment']['HTTPS_PROXY']).toBe('http://scopegate:8080');
    for (const r of REPLICAS) {
      const nets = networks(svc(r));
      expect(nets['agent-net']?.['aliases']).toContain('scopegate');
      expect(Object.keys(nets)).toEqual(expect.arrayContaining(['store-net', 'egress']));
    }
    const pgNets = Object.keys(networks(svc('postgres')));
    expect(pgNets).toEqual(['store-net']);
    expect(config.networks['store-net']?.['internal']).toBe(true);
    expect(pgNets.some((n) => agentNets.includes(n))).toBe(false);
    expect(mounts(agent).every((m) => m.source !== 'scopegate-ca')).toBe(true);
    expect(mounts(agent).find((m) => m.source === 'scopegate-share')?.ro).toBe(true);
    expect(agent['depends_on']).toMatchObject({ 'scopegate-1': { condition: 'service_healthy' }, 'scopegate-2': { condition: 'service_healthy' } });
  });

  it('the approval page of each replica is published on the host loopback only; nothing else is published', () => {
    expect(published(svc('scopegate-1'))).toEqual([{ hostIp: '127.0.0.1', published: '8081', target: '8081' }]);
    expect(published(svc('scopegate-2'))).toEqual([{ hostIp: '127.0.0.1', published: '8082', target: '8081' }]);
    for (const s of ['postgres', 'agent', 'scopegate-init']) expect(published(svc(s)), s).toEqual([]);
  });

  it('no secret is written into the compose file: passwords and tokens come from env files', () => {
    const text = readFileSync(FILE, 'utf8');
    expect(text).not.toMatch(/(PGPASSWORD|POSTGRES_PASSWORD|SCOPEGATE_ADMIN_TOKEN|SCOPEGATE_RAILWAY_RESOLVER_TOKEN)\s*:/);
    expect(text).not.toMatch(/postgres:\/\/[^@\s]*:[^@\s]*@/);
    const raw = parseYaml(text) as { services: Record<string, Service> };
    for (const s of ['postgres', ...REPLICAS]) expect(raw.services[s]!['env_file'] ?? (raw as unknown as Record<string, Service>)['x-scopegate-replica']!['env_file'], s).toMatch(/\.env/);
  });
});
