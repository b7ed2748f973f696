/**
 * The image, built from docker/Dockerfile and run with `docker run` as its header says: it becomes
 * healthy by its own HEALTHCHECK, answers /healthz on the published admin port, runs as a non-root
 * user that cannot change its code, and keeps the CA key from every other user.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IMAGE, docker, dockerOk, ensureImages, health, uniqueName, waitFor } from './docker.js';

const skip = inject('dockerSkipReason');
if (skip) console.warn(`skipping the container tests: ${skip}`);

describe.skipIf(skip !== '')('docker run scopegate:local', () => {
  let id = '';
  let adminPort = 0;

  beforeAll(async () => {
    await ensureImages();
    // the admin port on an ephemeral port of the host's loopback, as the compose file publishes it
    id = await dockerOk(['run', '-d', '--name', uniqueName('image'), '-p', '127.0.0.1::8081', IMAGE]);
    const port = await dockerOk(['port', id, '8081/tcp']);
    adminPort = Number(/127\.0\.0\.1:(\d+)/.exec(port)?.[1]);
    expect(adminPort).toBeGreaterThan(0);
  });
  afterAll(async () => {
    if (id) await docker(['rm', '-f', '-v', id]);
  });

  it('becomes healthy by its own HEALTHCHECK', async () => {
    const status = await waitFor('the container healthy', async () => {
      const s = await health(id);
      if (s === 'unhealthy') throw new Error(`unhealthy: ${(await docker(['logs', '--tail', '40', id])).stderr}`);
      const running = (await docker(['inspect', '-f', '{{.State.Running}}', id])).stdout.trim();
      if (running !== 'true') throw new Error(`exited: ${(await docker(['logs', '--tail', '40', id])).stderr}`);
      return s === 'healthy' ? s : undefined;
    }, 120_000);
    expect(status).toBe('healthy');
  });

  it('answers /healthz with 200 on the published admin port', async () => {
    const r = await waitFor('/healthz', async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      return res.status === 200 ? res : undefined;
    }, 60_000);
    expect(r.status).toBe(200);
    // and nothing else there without the admin token
    expect((await fetch(`http://127.0.0.1:${adminPort}/api/holds`)).status).toBe(401);
  });

  it('runs as uid 10001, not root, and cannot change its own code', async () => {
    expect(await dockerOk(['image', 'inspect', '-f', '{{.Config.User}}', IMAGE])).toBe('10001:10001');
    // the proxy itself (pid 1 in the container), as the kernel sees it
    const status = await dockerOk(['exec', id, 'cat', '/proc/1/status']);
    expect(/^Uid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1)).toEqual(['10001', '10001']);
    expect(await dockerOk(['exec', id, 'cat', '/proc/1/cmdline'])).toContain('dist/cli.js');
    const write = await docker(['exec', id, 'sh', '-c', 'echo x > /app/dist/cli.js']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Permission denied/);
  });

  it('made its CA in the CA volume, and the key is readable by its owner only', async () => {
    const ls = await dockerOk(['exec', id, 'stat', '-c', '%n %U %a', '/var/lib/scopegate/ca/ca.pem', '/var/lib/scopegate/ca/ca-key.pem', '/var/lib/scopegate/ca']);
    expect(ls.split('\n')).toEqual([
      expect.stringMatching(/^\/var\/lib\/scopegate\/ca\/ca\.pem scopegate [0-7]*4[0-7]*$/),
      '/var/lib/scopegate/ca/ca-key.pem scopegate 600',
      '/var/lib/scopegate/ca scopegate 700',
    ]);
    expect(await dockerOk(['exec', id, 'head', '-1', '/var/lib/scopegate/ca/ca-key.pem'])).toMatch(/PRIVATE KEY/);
    // any other user of the container (uid 1000, as an agent sharing it would be) is refused
    const other = await docker(['exec', '-u', '1000:1000', id, 'cat', '/var/lib/scopegate/ca/ca-key.pem']);
    expect(other.code).not.toBe(0);
    expect(other.stdout).not.toMatch(/PRIVATE KEY/);
    expect(other.stderr).toMatch(/Permission denied/);
  });

  it('the runtime holds production dependencies only: no compiler, no typescript, no test runner', async () => {
    const r = await docker(['exec', id, 'sh', '-c', 'ls /app/node_modules; command -v g++ || true; command -v python3 || true']);
    expect(r.code).toBe(0);
    const mods = r.stdout.split('\n');
    for (const present of ['ws', 'undici', 'graphql', 'better-sqlite3']) expect(mods, present).toContain(present);
    for (const absent of ['typescript', 'vitest', 'playwright-core', '@types', '/usr/bin/g++', '/usr/bin/python3']) expect(mods, absent).not.toContain(absent);
  });
});
