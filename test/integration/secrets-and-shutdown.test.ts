import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { TestUpstream } from '../helpers/upstream.js';
import { ROOT, startProxy } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

const GUARDED = 'backboard.railway.com';
const FORWARD_ALL = join(ROOT, 'test', 'fixtures', 'policies', 'forward-all.yaml');
let pki: TestPki;
let upstream: TestUpstream;

beforeAll(async () => {
  pki = makeTestPki('upstream', [GUARDED, 'tunnel.test']);
  upstream = await new TestUpstream(pki).start();
});
afterAll(async () => {
  await upstream?.stop();
});

/** Every file under dir except the admin token, which is the one place a secret may live. */
function dataFiles(dir: string): string {
  let all = '';
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (name.endsWith('admin-token') || !statSync(p).isFile()) continue;
    all += readFileSync(p, 'latin1');
  }
  return all;
}

describe('secrets stay secret', () => {
  it('no credential a client sends appears in stdout, stderr or the data dir, at log level trace', async () => {
    const secrets = {
      bearer: 'rw_Bearer_5ecret_aaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      projectToken: 'proj-5ecret-bbbbbbbbbbbbbbbbbbbbbbbb',
      cookie: 'session=c00kie5ecret',
      proxyPass: 'pr0xyPa55word',
      teamToken: 'team-5ecret-ccccccccccccccc',
      queryToken: 'qu3ryT0ken5ecret',
      adminGuess: 'not-the-admin-token-but-secret-ddd',
    };
    const p = await startProxy({ args: ['--policy', FORWARD_ALL, '--log-level', 'trace', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`] });
    try {
      const auth = ['-H', `Authorization: Bearer ${secrets.bearer}`, '-H', `Project-Access-Token: ${secrets.projectToken}`, '-H', `Cookie: ${secrets.cookie}`, '-H', `Team-Access-Token: ${secrets.teamToken}`];
      const withProxyAuth = `http://agent:${secrets.proxyPass}@127.0.0.1:${p.proxyPort}`;
      const curl = (url: string, extra: string[] = []) =>
        run('curl', ['-sS', '--max-time', '10', '--proxy', withProxyAuth, '--cacert', join(p.caDir, 'ca.pem'), ...auth, ...extra, url]);
      expect((await curl(`https://${GUARDED}/graphql/v2?token=${secrets.queryToken}&x=1`, ['--data', '{"query":"{ me { id } }"}'])).code).toBe(0);
      expect((await curl(`https://${GUARDED}/reset`)).code).not.toBe(0);
      expect((await curl('https://tunnel.test/', ['--cacert', pki.caPath])).code).not.toBe(0);
      // the same, in absolute form over plain HTTP: headers reach the proxy in the clear
      await curl(`http://127.0.0.1:1/?api_key=${secrets.queryToken}`);
      const adminTry = await request(`${p.adminUrl}/metrics`, { headers: { authorization: `Bearer ${secrets.adminGuess}` } });
      await adminTry.body.dump();
      await p.waitForLog((l) => l.msg === 'request' && l.path === '/reset');
    } finally {
      expect(await p.stop()).toBe(0);
    }
    const everything = `${p.stdout()}\n${p.stderr()}\n${dataFiles(p.dataDir)}\n${dataFiles(p.caDir)}`;
    for (const [name, value] of Object.entries(secrets)) {
      expect(everything.includes(value), `${name} leaked`).toBe(false);
    }
    expect(everything.includes(p.adminToken)).toBe(false);
    // the redacted query is still useful: the parameter name and the other values stay
    expect(p.stdout()).toContain('/graphql/v2?token=[redacted]&x=1');
  });
});

describe('shutdown', () => {
  it('SIGTERM lets a request in flight finish, refuses new connections, and exits 0', async () => {
    const p = await startProxy({ args: ['--policy', FORWARD_ALL, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`] });
    const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
    try {
      const inflight = request(`https://${GUARDED}/slow?ms=1500`, { dispatcher: agent });
      await new Promise((r) => setTimeout(r, 400));
      p.child.kill('SIGTERM');
      await p.waitForLog((l) => l.msg.startsWith('shutting down'));
      const res = await inflight;
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('slow answer');
      const code = await p.exited;
      expect(code).toBe(0);
      const late = await run('curl', ['-sS', '--max-time', '5', '--proxy', p.proxyUrl, `https://${GUARDED}/`]);
      expect(late.code).not.toBe(0);
    } finally {
      await agent.close();
      await p.stop();
    }
  });

  it('a crash writes out every buffered log line, a fatal line, and exits 1', async () => {
    const p = await startProxy({
      args: ['--policy', FORWARD_ALL, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`],
      env: { NODE_OPTIONS: `--require ${join(ROOT, 'test', 'fixtures', 'crash-on-sigusr2.cjs')}` },
    });
    const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `query q${i} { me { id } }` }) });
        await res.body.text();
        ids.push(String(res.headers['x-scopegate-decision']));
      }
      // at once: the last lines are still in the batch, not yet written
      p.child.kill('SIGUSR2');
      expect(await p.exited).toBe(1);
      const lines = p.logs();
      const logged = new Set(lines.filter((l) => l.msg === 'request').map((l) => l.decisionId));
      expect(ids.filter((id) => !logged.has(id))).toEqual([]);
      expect(lines.find((l) => l.level === 'fatal')?.msg).toMatch(/^crashed/);
      expect(p.stderr()).toContain('induced crash (test fixture)');
    } finally {
      await agent.close();
      await p.stop();
    }
  });

  it('a request still in flight past --drain-timeout is cut and the process still exits 0', async () => {
    const p = await startProxy({ args: ['--policy', FORWARD_ALL, '--drain-timeout', '1', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`] });
    const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
    try {
      const inflight = request(`https://${GUARDED}/slow?ms=8000`, { dispatcher: agent }).then(
        () => 'answered',
        () => 'cut',
      );
      await new Promise((r) => setTimeout(r, 300));
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
      expect(await inflight).toBe('cut');
      const stopped = await p.waitForLog((l) => l.msg.startsWith('stopped'));
      expect(stopped.unfinished).toBe(1);
    } finally {
      await agent.close();
      await p.stop();
    }
  });
});
