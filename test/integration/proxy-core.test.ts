import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { BIG, BIG_SHA256, TestUpstream } from '../helpers/upstream.js';
import { ROOT, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

const GUARDED = 'backboard.railway.com';
const FORWARD_ALL = join(ROOT, 'test', 'fixtures', 'policies', 'forward-all.yaml');

let pki: TestPki;
let upstream: TestUpstream;
let proxy: ProxyProcess;

beforeAll(async () => {
  pki = makeTestPki('upstream', [GUARDED, 'backboard.railway.app', 'tunnel.test', 'plain.test', '127.0.0.1']);
  upstream = await new TestUpstream(pki).start();
  proxy = await startProxy({
    args: [
      '--policy', FORWARD_ALL,
      '--upstream-ca', pki.caPath,
      '--route', `${GUARDED}=127.0.0.1:${upstream.port}`,
      '--route', `tunnel.test=127.0.0.1:${upstream.port}`,
      '--route', `closed.test=127.0.0.1:1`,
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
});

function curlThrough(url: string, extra: string[] = []) {
  return run('curl', ['-sS', '--max-time', '15', '--suppress-connect-headers', '--proxy', proxy.proxyUrl, '--cacert', join(proxy.caDir, 'ca.pem'), ...extra, url]);
}

describe('intercepted (guarded) host', () => {
  it('curl gets the upstream answer intact, with scopegate minting the certificate', async () => {
    const before = upstream.seen.length;
    const r = await curlThrough(`https://${GUARDED}/graphql/v2`, ['-H', 'content-type: application/json', '--data', '{"query":"{ me { id } }"}', '-D', '-']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4));
    expect(body.method).toBe('POST');
    expect(body.url).toBe('/graphql/v2');
    expect(body.body).toBe('{"query":"{ me { id } }"}');
    expect(body.headers.host).toBe(GUARDED);
    expect(r.stdout).toMatch(/set-cookie: a=1/i);
    expect(r.stdout).toMatch(/set-cookie: b=2/i);
    expect(upstream.seen.length).toBe(before + 1);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/graphql/v2' && l.method === 'POST');
    expect(line).toMatchObject({ host: GUARDED, decision: 'allow', status: 200, agent: 'anonymous', provider: 'railway' });
    expect(String(line.decisionId)).toMatch(/^D-/);
  });

  it('hop-by-hop headers cross in neither direction: the named ones and those the Connection header lists', async () => {
    // twice, and between them the same header names under another Connection value: the second
    // time the listed names are remembered, not read again
    for (const [connection, listedHop, kept] of [
      ['keep-alive, X-Client-Hop', 'x-client-hop', 'x-client-end'],
      ['keep-alive, X-Client-End', 'x-client-end', 'x-client-hop'],
      ['keep-alive, X-Client-Hop', 'x-client-hop', 'x-client-end'],
    ] as const) {
      const before = upstream.seen.length;
      const r = await curlThrough(`https://${GUARDED}/hop`, [
        '-D', '-', '-H', `Connection: ${connection}`, '-H', 'X-Client-Hop: hop-value', '-H', 'TE: trailers',
        '-H', 'Proxy-Connection: keep-alive', '-H', 'X-Client-End: end-value',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(upstream.seen.length).toBe(before + 1);
      const seen = upstream.seen.at(-1)!.headers;
      expect(seen[kept], `${kept} with Connection: ${connection}`).toBe(kept === 'x-client-end' ? 'end-value' : 'hop-value');
      for (const h of [listedHop, 'te', 'proxy-connection']) expect(seen[h], `${h} with Connection: ${connection}`).toBeUndefined();
      const head = r.stdout.slice(0, r.stdout.indexOf('\r\n\r\n')).toLowerCase();
      expect(head).toContain('x-up-end: kept');
      expect(head).not.toContain('x-up-hop');
      expect(head).not.toContain('proxy-authenticate');
      expect(head).not.toContain('connection: x-up-hop');
    }
  });

  it('the client sees a scopegate leaf for the host, not the upstream certificate', async () => {
    const r = await curlThrough(`https://${GUARDED}/`, ['-v', '-o', '/dev/null']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/issuer: CN=scopegate interception CA/);
    expect(r.stderr).toMatch(/subjectAltName: host "backboard.railway.com" matched/);
  });

  it('a client that does not trust the scopegate CA refuses, and nothing is forwarded', async () => {
    const before = upstream.seen.length;
    const r = await run('curl', ['-sS', '--max-time', '10', '--proxy', proxy.proxyUrl, '--cacert', pki.caPath, `https://${GUARDED}/untrusted`]);
    expect(r.code).toBe(60); // curl: peer certificate cannot be authenticated
    expect(upstream.seen.length).toBe(before);
  });

  it('undici ProxyAgent: many requests over one tunnel and one upstream connection', async () => {
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem }, connections: 1 });
    const before = upstream.seen.length;
    const connsBefore = upstream.connections;
    try {
      for (let i = 0; i < 40; i++) {
        const res = await request(`https://${GUARDED}/graphql/v2?i=${i}`, { dispatcher: agent, method: 'POST', body: JSON.stringify({ query: `{ n${i} }` }), headers: { 'content-type': 'application/json' } });
        const body = (await res.body.json()) as { url: string; body: string };
        expect(res.statusCode).toBe(200);
        expect(body.url).toBe(`/graphql/v2?i=${i}`);
        expect(body.body).toBe(JSON.stringify({ query: `{ n${i} }` }));
      }
    } finally {
      await agent.close();
    }
    expect(upstream.seen.length).toBe(before + 40);
    // the upstream pool is kept alive too: 40 requests, at most a couple of connections
    expect(upstream.connections - connsBefore).toBeLessThanOrEqual(2);
    await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/graphql/v2?i=39');
    const lines = proxy.logs().filter((l) => l.msg === 'request' && String(l.path).startsWith('/graphql/v2?i='));
    expect(lines).toHaveLength(40);
    expect(new Set(lines.map((l) => l.connectionId)).size).toBe(1);
  });

  it('a 256 KiB answer streams back byte for byte, and gzip stays encoded as the upstream sent it', async () => {
    const big = await curlThrough(`https://${GUARDED}/big`, ['-o', '-']);
    expect(big.code).toBe(0);
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    try {
      const res = await request(`https://${GUARDED}/big`, { dispatcher: agent });
      const buf = Buffer.from(await res.body.arrayBuffer());
      expect(createHash('sha256').update(buf).digest('hex')).toBe(BIG_SHA256);
      const gz = await request(`https://${GUARDED}/gzip`, { dispatcher: agent, headers: { 'accept-encoding': 'gzip' } });
      expect(gz.headers['content-encoding']).toBe('gzip');
      const raw = Buffer.from(await gz.body.arrayBuffer());
      expect(raw[0]).toBe(0x1f); // still gzip on the wire
    } finally {
      await agent.close();
    }
  });

  it('an 8 MiB answer to a slow reader arrives whole and in order (backpressure from the client to the upstream)', async () => {
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    try {
      const res = await request(`https://${GUARDED}/huge`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      const h = createHash('sha256');
      let got = 0;
      let chunks = 0;
      for await (const c of res.body as AsyncIterable<Buffer>) {
        h.update(c);
        got += c.length;
        if (++chunks % 16 === 0) await new Promise((r) => setTimeout(r, 2));
      }
      expect(got).toBe(BIG.length * 32);
      expect(h.digest('hex')).toBe(createHash('sha256').update(Buffer.concat(Array.from({ length: 32 }, () => BIG))).digest('hex'));
    } finally {
      await agent.close();
    }
  });

  it('a client that leaves before the answer is logged as such, and the proxy goes on serving', async () => {
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
    try {
      const ac = new AbortController();
      const gone = request(`https://${GUARDED}/slow?ms=2500&leaver=1`, { dispatcher: agent, signal: ac.signal }).catch((e: Error) => e.name);
      await new Promise((r) => setTimeout(r, 400));
      ac.abort();
      expect(await gone).toBe('AbortError');
      const line = await proxy.waitForLog((l) => l.msg === 'request' && String(l.path).includes('leaver=1'), 10_000);
      expect(line).toMatchObject({ status: 0, error: 'client closed the connection before the answer' });
      const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', body: '{"query":"{ me { id } }"}', headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await agent.close();
    }
  });

  it("Python urllib through HTTPS_PROXY, with Python 3.13's strict X.509 checks turned on", async () => {
    const script = [
      'import ssl, urllib.request, json, sys',
      'ctx = ssl.create_default_context(cafile=sys.argv[2])',
      'ctx.verify_flags |= ssl.VERIFY_X509_STRICT',
      'opener = urllib.request.build_opener(urllib.request.ProxyHandler(), urllib.request.HTTPSHandler(context=ctx))',
      'req = urllib.request.Request(sys.argv[1], data=b\'{"query":"{ me { id } }"}\', headers={"content-type": "application/json"})',
      'print(json.loads(opener.open(req, timeout=10).read())["body"])',
    ].join('\n');
    const r = await run('python3', ['-c', script, `https://${GUARDED}/graphql/v2`, join(proxy.caDir, 'ca.pem')], {
      env: { HTTPS_PROXY: proxy.proxyUrl, NO_PROXY: '' },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('{"query":"{ me { id } }"}');
  });

  it('a Host header that names another host than the tunnel is refused, not forwarded', async () => {
    const before = upstream.seen.length;
    const r = await curlThrough(`https://${GUARDED}/x`, ['-H', 'Host: evil.example', '-w', '%{http_code}', '-o', '/dev/null']);
    expect(r.stdout).toBe('421');
    expect(upstream.seen.length).toBe(before);
  });

  it('plain text or HTTP/2 prior knowledge inside a CONNECT to a guarded host is refused', async () => {
    const answer = await rawConnect(`CONNECT ${GUARDED}:443 HTTP/1.1\r\nHost: ${GUARDED}:443\r\n\r\n`, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
    const line = await proxy.waitForLog((l) => l.msg === 'interception refused' && /HTTP\/2/.test(String(l.reason)));
    expect(line.host).toBe(GUARDED);
  });
});

describe('tunnelled (not guarded) host', () => {
  it('passes bytes untouched: the client sees the upstream certificate and the exact bytes', async () => {
    // trust only the upstream's own test CA: if scopegate intercepted, this would fail
    const r = await run('curl', ['-sS', '--max-time', '15', '--proxy', proxy.proxyUrl, '--cacert', pki.caPath, '-v', '-o', '/dev/null', 'https://tunnel.test/big']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/issuer: CN=upstream test CA/);
    const agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: pki.caPem } });
    try {
      const res = await request('https://tunnel.test/big', { dispatcher: agent });
      const buf = Buffer.from(await res.body.arrayBuffer());
      expect(createHash('sha256').update(buf).digest('hex')).toBe(BIG_SHA256);
    } finally {
      await agent.close();
    }
    const line = await proxy.waitForLog((l) => l.msg === 'tunnel' && l.host === 'tunnel.test');
    expect(line).toMatchObject({ decision: 'tunnel', rule: 'egress' });
  });

  it('a slow reader gets every byte in order, both ways at once (the relay reuses its read buffer)', async () => {
    const down = randomBytes(24 * 2 ** 20);
    const up = randomBytes(8 * 2 ** 20);
    // neither TLS nor HTTP: the tunnel's first-bytes check relays it as it is
    up.write('scopegate-test\r\n', 0, 'latin1');
    const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
    let upSeen = '';
    const far = createNetServer((s) => {
      const h = createHash('sha256');
      let got = 0;
      s.on('data', (c: Buffer) => {
        if (got === 0) s.end(down); // the download starts with the upload's first bytes
        got += c.length;
        h.update(c);
        if (got === up.length) upSeen = h.digest('hex');
      });
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => far.listen(0, '127.0.0.1', r));
    try {
      const port = (far.address() as AddressInfo).port;
      const sock = netConnect(proxy.proxyPort, '127.0.0.1');
      const h = createHash('sha256');
      let got = 0;
      let reads = 0;
      const done = new Promise<void>((resolve, reject) => {
        let head = '';
        let open = false;
        const timer = setTimeout(() => reject(new Error(`only ${got} bytes after 20 s`)), 20_000);
        sock.on('data', (c: Buffer) => {
          if (!open) {
            head += c.toString('latin1');
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            expect(head).toMatch(/^HTTP\/1\.1 200/);
            open = true;
            sock.write(up);
            c = Buffer.from(head.slice(end + 4), 'latin1');
          }
          got += c.length;
          h.update(c);
          // a slow reader: stop now and then, so the relay's writes to it queue
          if (++reads % 16 === 0) {
            sock.pause();
            setTimeout(() => sock.resume(), 3);
          }
        });
        sock.on('end', () => {
          clearTimeout(timer);
          resolve();
        });
        sock.on('error', reject);
      });
      sock.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      await done;
      sock.destroy();
      expect(got).toBe(down.length);
      expect(h.digest('hex')).toBe(sha(down));
      expect(upSeen).toBe(sha(up));
    } finally {
      far.close();
    }
  });

  it('an unreachable tunnel target gets 502 with a reason', async () => {
    const r = await curlThrough('https://closed.test/', ['-w', '%{http_connect}']);
    expect(r.stdout).toContain('502');
    expect(r.stderr).toMatch(/CONNECT tunnel failed, response 502|Received HTTP code 502/);
  });
});

describe('upstream failures on a guarded host', () => {
  it('upstream down → 502 with a reason and the decision header; the proxy stays up', async () => {
    const down = await startProxy({ args: ['--policy', FORWARD_ALL, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:1`] });
    try {
      const r = await run('curl', ['-sS', '--max-time', '15', '--suppress-connect-headers', '--proxy', down.proxyUrl, '--cacert', join(down.caDir, 'ca.pem'), '-D', '-', `https://${GUARDED}/graphql/v2`]);
      expect(r.stdout).toMatch(/^HTTP\/1.1 502/);
      expect(r.stdout).toMatch(/x-scopegate-decision: D-/i);
      expect(r.stdout).toMatch(/refused the connection/);
      const again = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${down.adminUrl}/healthz`]);
      expect(again.stdout).toBe('200');
    } finally {
      await down.stop();
    }
  });

  it('an upstream whose certificate scopegate does not trust is refused, and it receives nothing', async () => {
    const rogue = makeTestPki('rogue', [GUARDED]);
    const rogueUpstream = await new TestUpstream(rogue).start();
    const p = await startProxy({ args: ['--policy', FORWARD_ALL, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${rogueUpstream.port}`] });
    try {
      const r = await run('curl', ['-sS', '--max-time', '15', '--suppress-connect-headers', '--proxy', p.proxyUrl, '--cacert', join(p.caDir, 'ca.pem'), '-D', '-', '--data', 'x=1', `https://${GUARDED}/graphql/v2`]);
      expect(r.stdout).toMatch(/^HTTP\/1.1 502/);
      expect(r.stdout).toMatch(/certificate scopegate does not trust/);
      expect(rogueUpstream.seen).toHaveLength(0);
    } finally {
      await p.stop();
      await rogueUpstream.stop();
    }
  });

  it('an upstream that resets mid-answer resets the client too; the answer is never passed off as whole', async () => {
    const r = await curlThrough(`https://${GUARDED}/reset`, ['-o', '/dev/null']);
    expect(r.code).not.toBe(0);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && l.path === '/reset');
    expect(String(line.error ?? line.reason)).toMatch(/mid-answer/);
  });
});

describe('egress policy', () => {
  it('a denied host gets 403 with a reason for CONNECT and for absolute-form HTTP', async () => {
    const dir = proxy.dataDir;
    const policy = join(dir, 'deny.yaml');
    writeFileSync(policy, 'version: 1\negress:\n  default: deny\n  allow: ["*.allowed.test"]\nproviders:\n  railway: {}\n');
    const p = await startProxy({ args: ['--policy', policy, '--upstream-ca', pki.caPath, '--route', `tunnel.test=127.0.0.1:${upstream.port}`] });
    try {
      const c = await run('curl', ['-sS', '--max-time', '10', '--proxy', p.proxyUrl, 'https://tunnel.test/']);
      expect(c.code).not.toBe(0);
      expect(c.stderr).toMatch(/403/);
      const raw = await rawConnect('CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n', undefined, p.proxyPort);
      expect(raw).toMatch(/^HTTP\/1.1 403/);
      expect(raw).toMatch(/not in the policy's egress.allow list/);
      expect(raw).toMatch(/X-Scopegate-Decision: D-/);
      const plain = await run('curl', ['-sS', '--max-time', '10', '--proxy', p.proxyUrl, '-w', '\n%{http_code}', 'http://plain.test/x']);
      expect(plain.stdout).toMatch(/403$/);
      expect(plain.stdout).toMatch(/egress to plain.test/);
      const line = await p.waitForLog((l) => l.msg === 'connect' && l.decision === 'deny' && l.host === 'tunnel.test');
      expect(line.rule).toBe('egress');
    } finally {
      await p.stop();
    }
  });

  it('absolute-form plain HTTP to an allowed host is forwarded', async () => {
    const plain = await startPlainServer();
    try {
      const r = await run('curl', ['-sS', '--max-time', '10', '--proxy', proxy.proxyUrl, `http://127.0.0.1:${plain.port}/hello?x=1`]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('plain GET /hello?x=1');
      // a streamed request body (chunked, 3 MiB) crosses whole, without being buffered or judged
      const body = randomBytes(3 * 2 ** 20);
      const bodyPath = join(proxy.dataDir, '..', 'upload.bin');
      writeFileSync(bodyPath, body);
      const up = await run('curl', ['-sS', '--max-time', '15', '--proxy', proxy.proxyUrl, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${bodyPath}`, `http://127.0.0.1:${plain.port}/upload`]);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toBe(`plain POST /upload ${body.length} ${createHash('sha256').update(body).digest('hex')}`);
    } finally {
      plain.close();
    }
  });
});

describe('admin server', () => {
  it('/healthz needs no token; /metrics needs the bearer token and counts requests', async () => {
    expect((await request(`${proxy.adminUrl}/healthz`)).statusCode).toBe(200);
    const denied = await request(`${proxy.adminUrl}/metrics`);
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['www-authenticate']).toMatch(/^Bearer/);
    await denied.body.dump();
    const wrong = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    await wrong.body.dump();
    const ok = await request(`${proxy.adminUrl}/metrics`, { headers: { authorization: `Bearer ${proxy.adminToken}` } });
    expect(ok.statusCode).toBe(200);
    const text = await ok.body.text();
    expect(text).toMatch(/scopegate_requests_total\{host="backboard.railway.com",method="POST",decision="allow"\} \d+/);
    expect(text).toMatch(/scopegate_leaf_cache_size [1-9]/);
    expect(text).toMatch(/scopegate_leaf_mint_seconds_count [1-9]/);
    expect(text).toMatch(/scopegate_open_tunnels \d/);
    const post = await request(`${proxy.adminUrl}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${proxy.adminToken}` } });
    expect(post.statusCode).toBe(405);
    expect(post.headers['allow']).toBe('GET');
    await post.body.dump();
  });
});

/** Write raw bytes to the proxy listener and collect what comes back until it closes or goes quiet. */
function rawConnect(head: string, after?: string, port = proxy.proxyPort): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let got = '';
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(got);
    };
    const t = setTimeout(done, 3000);
    s.on('data', (c) => {
      got += c.toString('latin1');
      if (after && got.includes('\r\n\r\n')) {
        s.write(after);
        after = undefined;
      }
    });
    s.on('close', done);
    s.on('error', done);
    s.write(head);
  });
}

async function startPlainServer(): Promise<{ port: number; close: () => void }> {
  const { createServer } = await import('node:http');
  const srv = createServer((req, res) => {
    // a body, when there is one, is hashed back so the test can tell it arrived whole
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      h.update(c);
    });
    req.on('end', () => res.end(n ? `plain ${req.method} ${req.url} ${n} ${h.digest('hex')}` : `plain ${req.method} ${req.url}`));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return { port, close: () => srv.close() };
}
