import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { TestUpstream } from '../helpers/upstream.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { exchange, tunnel } from '../helpers/raw-client.js';
import { POCKETOS, startFakeRailway, type FakeRailway } from '../fixtures/fake-railway/index.js';

/**
 * Hostile input and faults: request smuggling shapes, CONNECT confusion, slow clients, and an
 * upstream or a store that fails — each answered cleanly, nothing forwarded that should not be,
 * and the process stays up.
 */
const GUARDED = 'backboard.railway.com';
const EVIL = JSON.stringify({ query: 'mutation { volumeDelete(volumeId: "vol-7f3a9d") }' });
const READ = JSON.stringify({ query: '{ me { id } }' });

let pki: TestPki;
let upstream: TestUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  pki = makeTestPki('upstream', [GUARDED]);
  upstream = await new TestUpstream(pki).start();
  const policy = join(pki.dir, 'p.yaml');
  writeFileSync(policy, 'version: 1\nproviders: { railway: {} }\nrules:\n  - name: reads\n    match: { class: read }\n    action: allow\n  - name: no-volume-delete\n    match: { operation: volumeDelete }\n    action: deny\n');
  proxy = await startProxy({ args: ['--policy', policy, '--hold-timeout', '0', '--header-timeout', '1', '--upstream-timeout', '1', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`, '--route', `nowhere.test=unresolvable.invalid:443`] });
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
});

async function stillUp(): Promise<void> {
  const r = await request(`${proxy.adminUrl}/healthz`);
  expect(r.statusCode).toBe(200);
  await r.body.dump();
}

const head = (body: string, extra = '') => `POST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\n${extra}`;

describe('request smuggling shapes on a guarded host → 400, nothing forwarded', () => {
  const cases: [string, string][] = [
    ['Content-Length with Transfer-Encoding', `${head(EVIL)}Content-Length: ${EVIL.length}\r\nTransfer-Encoding: chunked\r\n\r\n${EVIL.length.toString(16)}\r\n${EVIL}\r\n0\r\n\r\n`],
    ['two Content-Lengths', `${head(EVIL)}Content-Length: ${EVIL.length}\r\nContent-Length: 5\r\n\r\n${EVIL}`],
    ['obsolete line folding', `${head(EVIL)}X-A: a\r\n b\r\nContent-Length: ${EVIL.length}\r\n\r\n${EVIL}`],
    ['a bad chunk size', `${head(EVIL)}Transfer-Encoding: chunked\r\n\r\nzz\r\n${EVIL}\r\n0\r\n\r\n`],
    ['bare LF line endings', `POST /graphql/v2 HTTP/1.1\nHost: ${GUARDED}\nContent-Length: ${EVIL.length}\n\n${EVIL}`],
    ['a bare CR', `POST /graphql/v2 HTTP/1.1\rHost: ${GUARDED}\r\nContent-Length: ${EVIL.length}\r\n\r\n${EVIL}`],
    ['stacked transfer codings', `${head(EVIL)}Transfer-Encoding: gzip, chunked\r\n\r\n${EVIL.length.toString(16)}\r\n${EVIL}\r\n0\r\n\r\n`],
    ['two Host headers', `${head(EVIL)}Host: evil.example\r\nContent-Length: ${EVIL.length}\r\n\r\n${EVIL}`],
    ['too many header lines', `${head(EVIL)}${Array.from({ length: 250 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}Content-Length: ${EVIL.length}\r\n\r\n${EVIL}`],
    ['headers over 16 KiB', `${head(EVIL)}X-Big: ${'a'.repeat(20_000)}\r\nContent-Length: ${EVIL.length}\r\n\r\n${EVIL}`],
    ['a URL over the header limit', `POST /graphql/v2?${'q'.repeat(20_000)} HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Length: ${EVIL.length}\r\n\r\n${EVIL}`],
  ];
  for (const [name, raw] of cases) {
    it(name, async () => {
      const before = upstream.seen.length;
      const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
      const answer = await exchange(t, raw);
      expect(answer).toMatch(/^HTTP\/1.1 4(00|31)/);
      expect(upstream.seen.length).toBe(before);
    });
  }
  it('the same shapes on the plain-HTTP listener are refused too', async () => {
    const s = netConnect(proxy.proxyPort, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const answer = await exchange(s, `POST http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    await stillUp();
  });
});

describe('pipelining and Expect', () => {
  it('pipelined requests are each judged, in order: the read passes, the delete after it does not', async () => {
    const before = upstream.seen.length;
    const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
    const answer = await exchange(t, `${head(READ)}Content-Length: ${READ.length}\r\n\r\n${READ}${head(EVIL)}Content-Length: ${EVIL.length}\r\nConnection: close\r\n\r\n${EVIL}`);
    const responses = answer.split(/(?=HTTP\/1\.1 \d{3})/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toContain('"url":"/graphql/v2"');
    expect(responses[1]).toContain('SCOPEGATE_DENIED');
    expect(upstream.seen.length).toBe(before + 1);
    expect(upstream.seen.at(-1)!.body).toBe(READ);
  });
  it('Expect: 100-continue never lets an unjudged body through', async () => {
    const before = upstream.seen.length;
    const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
    const got: string[] = [];
    t.on('data', (c: Buffer) => got.push(c.toString()));
    t.write(`${head(EVIL)}Content-Length: ${EVIL.length}\r\nExpect: 100-continue\r\n\r\n`);
    for (let i = 0; i < 50 && !got.join('').includes('100 Continue'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(got.join('')).toMatch(/^HTTP\/1.1 100 Continue/);
    expect(upstream.seen.length).toBe(before);
    const answer = await exchange(t, EVIL);
    expect(got.join('') + answer).toContain('SCOPEGATE_DENIED');
    expect(upstream.seen.length).toBe(before);
  });
});

describe('slow clients', () => {
  it('a client that never finishes its headers is cut after --header-timeout', async () => {
    const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
    const closed = new Promise<string>((resolve) => {
      let got = '';
      t.on('data', (c: Buffer) => (got += c.toString()));
      t.on('close', () => resolve(got));
    });
    t.write(`POST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nX-Slow: `);
    expect(await closed).toMatch(/^(HTTP\/1.1 408|)/);
    await stillUp();
  });
});

describe('CONNECT confusion → 400, no crash', () => {
  const raw = (line: string) =>
    new Promise<string>((resolve) => {
      const s = netConnect(proxy.proxyPort, '127.0.0.1');
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.write(line);
      setTimeout(() => s.destroy(), 2000);
    });
  const bad = [
    'CONNECT backboard.railway.com HTTP/1.1\r\n\r\n',
    'CONNECT user:pw@backboard.railway.com:443 HTTP/1.1\r\n\r\n',
    'CONNECT [::1 HTTP/1.1\r\n\r\n',
    'CONNECT ::1:443 HTTP/1.1\r\n\r\n',
    'CONNECT backboard.railway.com:99999 HTTP/1.1\r\n\r\n',
    `CONNECT ${'a'.repeat(400)}.com:443 HTTP/1.1\r\n\r\n`,
    'CONNECT backboard.railway.com:443/x HTTP/1.1\r\n\r\n',
    'CONNECT :443 HTTP/1.1\r\n\r\n',
    'CONNECT backboard railway.com:443 HTTP/1.1\r\n\r\n',
  ];
  for (const line of bad) {
    it(JSON.stringify(line.split('\r\n')[0]!.slice(0, 60)), async () => {
      expect(await raw(line)).toMatch(/^HTTP\/1.1 400/);
    });
  }
  it('the proxy is still up after all of that', stillUp);
});

describe('faults: answered cleanly with the fail-closed default, the process stays up', () => {
  it('an upstream that does not answer within --upstream-timeout gets 504', async () => {
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    try {
      const res = await request(`https://${GUARDED}/slow?ms=3000&query=${encodeURIComponent('{ me { id } }')}`, { dispatcher: agent });
      expect(res.statusCode).toBe(504);
      expect(await res.body.text()).toMatch(/did not answer in time/);
    } finally {
      await agent.close();
    }
    await stillUp();
  });
  it('a name that does not resolve gets 502', async () => {
    const s = netConnect(proxy.proxyPort, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const answer = await exchange(s, 'CONNECT nowhere.test:443 HTTP/1.1\r\nHost: nowhere.test:443\r\n\r\n', 4000);
    expect(answer).toMatch(/^HTTP\/1.1 502/);
    expect(answer).toMatch(/ENOTFOUND|EAI_AGAIN/);
    await stillUp();
  });
  it('a live lookup that fails halfway leaves the scope unresolved: held, not forwarded', async () => {
    const railwayPki = makeTestPki('railway', [GUARDED]);
    const fake: FakeRailway = await startFakeRailway({ cert: railwayPki.cert, key: railwayPki.key });
    const p = await startProxy({ args: ['--hold-timeout', '0', '--upstream-ca', railwayPki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`] });
    try {
      // the project lookup answers, the snapshot after it fails
      const original = fake.setMode.bind(fake);
      let calls = 0;
      const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
      const watcher = setInterval(() => {
        const n = fake.received.filter((r) => r.operationName?.startsWith('Scopegate')).length;
        if (n >= 1 && calls === 0) {
          calls++;
          original('fail');
        }
      }, 1);
      try {
        const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${POCKETOS.token.account}` }, body: JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }` }) });
        const body = (await res.body.json()) as { errors: { extensions: Record<string, unknown> }[] };
        expect(body.errors[0]!.extensions).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'unresolved-scope' });
      } finally {
        clearInterval(watcher);
        await agent.close();
      }
      expect(fake.received.some((r) => r.executed && r.rootFields.includes('volumeDelete'))).toBe(false);
    } finally {
      await p.stop();
      await fake.stop();
    }
  });
});

describe('the data store full', () => {
  const work = mkdtempSync(join(tmpdir(), 'sg-full-'));
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', work], { stdio: 'pipe' });
    mounted = true;
  } catch {
    console.warn('skipping the full-disk test: cannot mount a small tmpfs here (needs root)');
  }
  it.skipIf(!mounted)('a hold that cannot be written is refused with a reason, nothing is forwarded, and the proxy stays up', async () => {
    const railwayPki = makeTestPki('railway', [GUARDED]);
    const fake = await startFakeRailway({ cert: railwayPki.cert, key: railwayPki.key });
    const p = await startProxy({ args: ['--hold-timeout', '0', '--upstream-ca', railwayPki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`], dataDir: join(work, 'data'), caDir: join(tmpdir(), `sg-full-ca-${process.pid}`) });
    try {
      // fill the disk to the last block
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(work, 'filler')}`, 'bs=4k'], { stdio: 'pipe' });
      } catch {
        /* dd stops with "no space left", which is the point */
      }
      const agent = new ProxyAgent({ uri: p.proxyUrl, requestTls: { ca: p.caPem } });
      try {
        const answers: string[] = [];
        for (let i = 0; i < 5; i++) {
          const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${POCKETOS.token.account}` }, body: JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }` }) });
          answers.push(await res.body.text());
        }
        // either the hold fit in what was left, or it was refused with the store's reason: never forwarded
        expect(answers.some((a) => a.includes('SCOPEGATE_UNJUDGEABLE') && a.includes('could not be recorded'))).toBe(true);
        expect(fake.received.some((r) => r.executed && r.rootFields.includes('volumeDelete'))).toBe(false);
      } finally {
        await agent.close();
      }
      const h = await request(`${p.adminUrl}/healthz`);
      expect(h.statusCode).toBe(200);
      await h.body.dump();
    } finally {
      await p.stop();
      await fake.stop();
      try {
        execFileSync('umount', [work], { stdio: 'pipe' });
      } catch {
        /* best effort */
      }
    }
  });
});
