/**
 * docker/compose.yaml brought up for real (docker-compose v1, as Debian ships it), with one test
 * addition (fixtures/compose.fake-railway.yaml): Railway's stand-in on the egress network, named
 * backboard.railway.com. The agent service is the file's own. What is checked: scopegate becomes
 * healthy; the agent's own command reaches Railway through scopegate and nothing else; the
 * incident call (volumeDelete of the volume shared by production and staging, backups on it) is
 * denied and never reaches Railway; with its proxy variables removed the agent reaches nothing,
 * not Railway by name, not its address, not the internet; and the agent cannot read the CA key.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACCOUNT_TOKEN, DOCKER_DIR, FIXTURES, RAILWAY, agentCall, composer, dockerOk, ensureImages, freePort, health, jsonLines, uniqueName, waitFor } from './docker.js';

const skip = inject('dockerSkipReason');
if (skip) console.warn(`skipping the container tests: ${skip}`);


describe.skipIf(skip !== '')('docker-compose up docker/compose.yaml (with Railway stand-in)', () => {
  const project = uniqueName('sidecar');
  let work = '';
  let c: ReturnType<typeof composer>;
  let adminPort = 0;
  let adminToken = '';

  const requestLines = async () => jsonLines(await c.logs('scopegate')).filter((l) => l['msg'] === 'request');
  /** `docker-compose run` of the agent service (its image, user, networks, mounts, environment), removed after. */
  const agentRun = (args: string[], extra: string[] = []) => c.compose(['run', '--rm', '--no-deps', '-T', ...extra, 'agent', ...args], 5 * 60_000);

  beforeAll(async () => {
    await ensureImages();
    work = mkdtempSync(join(tmpdir(), 'sg-compose-'));
    adminToken = randomBytes(24).toString('base64url');
    const envFile = join(work, 'scopegate.env');
    writeFileSync(envFile, `SCOPEGATE_RAILWAY_RESOLVER_TOKEN=${ACCOUNT_TOKEN}\nSCOPEGATE_ADMIN_TOKEN=${adminToken}\n`, { mode: 0o600 });
    adminPort = await freePort();
    c = composer(project, [join(DOCKER_DIR, 'compose.yaml'), join(FIXTURES, 'compose.fake-railway.yaml')], {
      SCOPEGATE_ENV_FILE: envFile,
      SCOPEGATE_ADMIN_PORT: String(adminPort),
      SG_TEST_FIXTURES: FIXTURES,
      // the agent's own Railway token (the incident's agent had a broad one)
      RAILWAY_TOKEN: ACCOUNT_TOKEN,
    });
    await c.ok(['up', '-d', '--no-build'], 10 * 60_000);
  });
  afterAll(async () => {
    if (c) {
      const r = await c.down();
      if (r.code !== 0) console.warn(`docker-compose down for ${project}: ${r.stderr}`);
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('scopegate becomes healthy and answers /healthz on the published loopback port; it runs as uid 10001', async () => {
    const id = await c.id('scopegate');
    await waitFor('scopegate healthy', async () => ((await health(id)) === 'healthy' ? true : undefined), 120_000);
    expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);
    expect(/^Uid:\s+(\d+)/m.exec(await dockerOk(['exec', id, 'cat', '/proc/1/status']))?.[1]).toBe('10001');
    // the admin API takes the token from the env file, and only that
    expect((await fetch(`http://127.0.0.1:${adminPort}/api/holds`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${adminPort}/api/holds`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
  });

  it("the agent's own command reaches Railway through scopegate, which judged it", async () => {
    const id = await c.id('agent');
    const exit = await waitFor('the agent finished', async () => {
      const s = (await dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id])).split(' ');
      return s[0] === 'exited' ? Number(s[1]) : undefined;
    }, 180_000);
    const out = await c.logs('agent');
    expect(exit, out).toBe(0);
    // `console.log(r.status, decisionId, body)`: 200, the decision's id, Railway's answer
    const m = /agent[^|]*\|\s*200 (\S+) (\{.*\})\s*$/m.exec(out);
    expect(m, out).not.toBeNull();
    expect(JSON.parse(m![2]!)).toMatchObject({ data: { me: { name: expect.any(String) } } });
    const line = (await requestLines()).find((l) => l['decisionId'] === m![1]);
    expect(line).toMatchObject({ host: 'backboard.railway.com', decision: 'allow', operation: 'me' });
    expect(await c.railwaySaw()).toContainEqual(expect.objectContaining({ rootFields: ['me'], executed: true }));
  });

  it('the incident call (volumeDelete of the shared volume) is denied by scopegate and never reaches Railway', async () => {
    const r = await agentRun(['node', '-e', agentCall('mutation cleanupStaging { volumeDelete(volumeId: "vol-7f3a9d") }')]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { status: number; decisionId: string; body: string };
    expect(res.decisionId).toBeTruthy();
    expect(res.body).toMatch(/"errors"/);
    expect(res.body).not.toMatch(/"volumeDelete":\s*true/);
    const line = (await requestLines()).find((l) => l['decisionId'] === res.decisionId);
    expect(line).toMatchObject({ host: 'backboard.railway.com', decision: 'deny', operation: 'volumeDelete' });
    const saw = await c.railwaySaw();
    expect(saw.length).toBeGreaterThan(0); // the fake's log is read (it saw the agent's first call)
    expect(saw.filter((o) => o.rootFields.includes('volumeDelete'))).toEqual([]);
  });

  it('without its proxy variables the agent reaches nothing: not Railway by name, not its address, not the internet', async () => {
    const railwayIp = await dockerOk(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', await c.id('fake-railway')]);
    expect(railwayIp).toMatch(/^\d+\.\d+\.\d+\.\d+/);
    const probe = `
      const net = require('node:net');
      const attempt = (host, port) => new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: 5000 });
        s.once('connect', () => { s.destroy(); resolve('connected'); });
        s.once('timeout', () => { s.destroy(); resolve('timeout'); });
        s.once('error', (e) => resolve(e.code || e.message));
      });
      (async () => {
        const out = {};
        out.byName = await fetch(${JSON.stringify(RAILWAY)}, { method: 'POST', body: '{}' }).then((r) => 'status ' + r.status, (e) => String(e.cause?.code ?? e.message));
        out.byAddress = await attempt(${JSON.stringify(railwayIp.split(' ')[0])}, 443);
        out.internet = await attempt('1.1.1.1', 443);
        out.scopegate = await attempt('scopegate', 8080);   // the one way out: the network itself works
        console.log(JSON.stringify(out));
      })();`;
    const unset = ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NODE_OPTIONS'].flatMap((k) => ['-e', `${k}=`]);
    const r = await agentRun(['node', '-e', probe], unset);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, string>;
    expect(out['scopegate']).toBe('connected');
    // by name: the name does not resolve on the agent's network, or, where the engine's DNS forwards it, leads nowhere
    expect(out['byName']).toMatch(/^(ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT)$/);
    for (const k of ['byAddress', 'internet']) expect(out[k], k).toMatch(/^(ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|timeout)$/);
  });

  it('the agent holds the CA certificate, not its key: no key file anywhere in its container, no CA volume mounted', async () => {
    const r = await agentRun(['sh', '-c', 'id -u; ls -A /opt/scopegate; find / -xdev \\( -name "ca-key.pem" -o -name "*key*.pem" \\) -print 2>/dev/null; grep -rl "PRIVATE KEY" /opt/scopegate --exclude-dir=node_modules || true']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).not.toBe('0');
    expect(lines.slice(1, 4).sort()).toEqual(['bundle.pem', 'ca.pem', 'preload']);
    expect(lines.slice(4)).toEqual([]);
    // what is mounted in the agent's container, as the engine says: the share, read-only, and nothing of the CA volume
    const mounts = JSON.parse(await dockerOk(['inspect', '-f', '{{json .Mounts}}', await c.id('agent')])) as { Name?: string; Destination: string; RW: boolean }[];
    expect(mounts.map((m) => [m.Name?.replace(`${project.replace(/-/g, '')}_`, '').replace(`${project}_`, ''), m.Destination, m.RW])).toEqual([['scopegate-share', '/opt/scopegate', false]]);
    // the key is there, in scopegate's container, owned by its user alone
    expect(await dockerOk(['exec', await c.id('scopegate'), 'stat', '-c', '%U %a', '/var/lib/scopegate/ca/ca-key.pem'])).toBe('scopegate 600');
  });
});
