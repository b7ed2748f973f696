import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startProxy, type LogLine, type ProxyProcess } from '../helpers/proxy-process.js';
import { exchange } from '../helpers/raw-client.js';

/**
 * Tunnels that could carry a guarded host past inspection (issue 15, class 4), each through the
 * real proxy: TLS without a server name, a server name that is not the CONNECT target's, and
 * cleartext HTTP that names another host than the tunnel's. Every refusal is checked at the far
 * end too: the upstream received no byte.
 */
const GUARDED = 'backboard.railway.com';
const HERE = 'here.test'; // not guarded; --route sends it to the upstream
const ELSEWHERE = 'elsewhere.test'; // not guarded; --route sends it to another address

let pki: TestPki;
let tlsServer: TlsServer;
/** The upstream every tunnel here points at: counts what reaches it, then speaks TLS or answers cleartext. */
let upstream: Server;
let upstreamPort: number;
let bytesIn = 0;
let proxy: ProxyProcess;
let allowing: ProxyProcess | undefined;

beforeAll(async () => {
  pki = makeTestPki('upstream', [HERE, '127.0.0.1']);
  tlsServer = createTlsServer({ cert: pki.cert, key: pki.key }, (s) => {
    s.on('error', () => s.destroy());
    s.end('hello from upstream\n');
  });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  const tlsPort = (tlsServer.address() as AddressInfo).port;
  upstream = createNetServer((s) => {
    s.on('error', () => s.destroy());
    s.once('data', (first: Buffer) => {
      if (first[0] === 0x16) {
        const t = netConnect(tlsPort, '127.0.0.1');
        t.on('error', () => s.destroy());
        s.on('close', () => t.destroy());
        t.write(first);
        s.pipe(t).pipe(s);
      } else {
        s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain');
      }
    });
    s.on('data', (c: Buffer) => {
      bytesIn += c.length;
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  const policy = join(pki.dir, 'shapes.yaml');
  writeFileSync(policy, ['version: 1', 'providers:', '  railway: {}', ''].join('\n'));
  proxy = await startProxy({ args: ['--policy', policy, '--route', `${HERE}=127.0.0.1:${upstreamPort}`, '--route', `${ELSEWHERE}=127.0.0.2:${upstreamPort}`] });
});

afterAll(async () => {
  await proxy?.stop();
  await allowing?.stop();
  await new Promise((r) => upstream?.close(r));
  await new Promise((r) => tlsServer?.close(r));
});

/** A raw CONNECT: resolves with the socket once the proxy said 200. */
function connectThrough(port: number, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    let head = '';
    s.once('error', reject);
    s.on('data', function onData(c: Buffer) {
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(`CONNECT answered ${head.split('\r\n')[0]}`));
      resolve(s);
    });
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}

/** TLS inside a tunnel; `servername: ''` sends no SNI. Resolves with what the far end said, or rejects. */
function tlsThrough(port: number, target: string, servername: string): Promise<string> {
  return connectThrough(port, target).then(
    (raw) =>
      new Promise<string>((resolve, reject) => {
        const t = tlsConnect({ socket: raw, servername, ca: pki.caPem, checkServerIdentity: () => undefined });
        let got = '';
        let secure = false;
        t.once('secureConnect', () => {
          secure = true;
        });
        t.on('data', (c: Buffer) => {
          got += c.toString();
        });
        t.once('end', () => (secure ? resolve(got) : reject(new Error('closed during the TLS handshake'))));
        t.once('error', reject);
        t.once('close', () => reject(new Error('closed before the far end answered')));
      }),
  );
}

/** The tunnel's log line that carries `reason`, and the proof that the upstream got nothing. */
async function refused(reason: RegExp, run: () => Promise<unknown>, p: ProxyProcess = proxy): Promise<LogLine> {
  const before = bytesIn;
  await run().catch(() => undefined);
  const line = await p.waitForLog((l) => l.msg === 'tunnel' && reason.test(String(l.error)));
  expect(line).toMatchObject({ decision: 'deny', bytesUp: 0 });
  expect(bytesIn).toBe(before);
  return line;
}

describe('TLS inside a CONNECT tunnel', () => {
  it('without SNI, to 127.0.0.1: refused, the upstream receives nothing', async () => {
    await expect(tlsThrough(proxy.proxyPort, `127.0.0.1:${upstreamPort}`, '')).rejects.toThrow();
    const line = await refused(/^a TLS ClientHello without a server name \(SNI\) to 127\.0\.0\.1: .*egress\.allow_without_sni$/, async () => undefined);
    expect(line.host).toBe('127.0.0.1');
  });

  it('without SNI, to an address in egress.allow_without_sni: relayed, and it reaches the upstream', async () => {
    const policy = join(pki.dir, 'allowing.yaml');
    writeFileSync(policy, ['version: 1', 'providers:', '  railway: {}', 'egress:', '  allow_without_sni: [127.0.0.0/8]', ''].join('\n'));
    allowing = await startProxy({ args: ['--policy', policy] });
    const before = bytesIn;
    expect(await tlsThrough(allowing.proxyPort, `127.0.0.1:${upstreamPort}`, '')).toBe('hello from upstream\n');
    expect(bytesIn).toBeGreaterThan(before);
    const line = await allowing.waitForLog((l) => l.msg === 'tunnel' && l.host === '127.0.0.1');
    expect(line).toMatchObject({ decision: 'tunnel' });
    expect(line.error).toBeUndefined();
  });

  it('SNI naming a host that is not guarded and that --route maps to the CONNECT address: relayed', async () => {
    const before = bytesIn;
    expect(await tlsThrough(proxy.proxyPort, `127.0.0.1:${upstreamPort}`, HERE)).toBe('hello from upstream\n');
    expect(bytesIn).toBeGreaterThan(before);
  });

  it('SNI naming a host that maps to another address: refused as domain fronting', async () => {
    await refused(/^domain fronting: elsewhere\.test resolves to 127\.0\.0\.2, not to the CONNECT target 127\.0\.0\.1/, () => tlsThrough(proxy.proxyPort, `127.0.0.1:${upstreamPort}`, ELSEWHERE));
  });

  it('SNI naming a host that does not resolve: refused, fail closed', async () => {
    await refused(/^cannot rule out domain fronting: the TLS server name nothing\.invalid did not resolve/, () => tlsThrough(proxy.proxyPort, `127.0.0.1:${upstreamPort}`, 'nothing.invalid'));
  });

  it('CONNECT to one name with SNI naming another: refused', async () => {
    await refused(/^the TLS server name other\.test is not the CONNECT target here\.test/, () => tlsThrough(proxy.proxyPort, `${HERE}:443`, 'other.test'));
  });
});

describe('cleartext inside a CONNECT tunnel', () => {
  const body = '{"query":"mutation { volumeDelete(volumeId: \\"vol-1\\") }"}';
  const send = (target: string, bytes: string) => async (): Promise<string> => exchange(await connectThrough(proxy.proxyPort, target), bytes, 800);

  it('a request for the guarded host after empty lines (as llhttp skips them): refused', async () => {
    const post = `\r\n\r\nPOST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    await refused(/^cleartext HTTP for guarded host backboard\.railway\.com inside a tunnel/, send(`127.0.0.1:${upstreamPort}`, post));
  });

  it('an absolute-form request-target naming the guarded host: refused', async () => {
    const post = `POST http://${GUARDED}/graphql/v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    await refused(/^cleartext HTTP for guarded host backboard\.railway\.com/, send(`127.0.0.1:${upstreamPort}`, post));
  });

  it('two Host headers: refused', async () => {
    await refused(/two Host headers/, send(`${HERE}:443`, `GET / HTTP/1.1\r\nHost: ${HERE}\r\nHost: ${GUARDED}\r\n\r\n`));
  });

  it("a request for the CONNECT target's own name: relayed", async () => {
    const before = bytesIn;
    const got = await send(`${HERE}:443`, `GET / HTTP/1.1\r\nHost: ${HERE}\r\n\r\n`)();
    expect(got).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(bytesIn).toBeGreaterThan(before);
  });

  it('every request on a cleartext tunnel is read: a later keep-alive request for the guarded host is refused (421), its bytes never reach the upstream', async () => {
    const before = bytesIn;
    const s = await connectThrough(proxy.proxyPort, `${HERE}:443`);
    const second = `POST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const got = await exchange(s, `GET / HTTP/1.1\r\nHost: ${HERE}\r\n\r\n${second}`, 800);
    const answers = got.split(/(?=HTTP\/1\.1 \d{3})/);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 421/);
    expect(answers[1]).toContain(`does not match the connection's target`);
    // what reached the upstream was the first request, forwarded; the second's body never did
    expect(bytesIn).toBeGreaterThan(before);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && l.rule === 'host-mismatch' && l.status === 421);
    expect(line).toMatchObject({ decision: 'deny', via: 'connect', host: HERE });
  });

  it('a later request in absolute form naming another host is refused (it is not a path)', async () => {
    const s = await connectThrough(proxy.proxyPort, `${HERE}:443`);
    const got = await exchange(s, `GET / HTTP/1.1\r\nHost: ${HERE}\r\n\r\nGET http://${GUARDED}/graphql/v2 HTTP/1.1\r\nHost: ${HERE}\r\n\r\n`, 800);
    const answers = got.split(/(?=HTTP\/1\.1 \d{3})/);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 421/);
    expect(answers[1]).toContain('must be a path (origin form)');
  });

  it('a WebSocket upgrade for the tunnel\'s own host is relayed once its request is read, and then carries frames both ways', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const ws = createHttpServer((_q, r) => r.end('no'));
    ws.on('upgrade', (_req, sock: Socket, head: Buffer) => {
      sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      if (head.length > 0) sock.write(head);
      sock.pipe(sock); // echo
    });
    await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
    const port = (ws.address() as AddressInfo).port;
    try {
      const s = await connectThrough(proxy.proxyPort, `127.0.0.1:${port}`);
      const got = await exchange(s, `GET /socket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe-bytes`, 800);
      expect(got).toMatch(/^HTTP\/1\.1 101/);
      expect(got).toContain('frame-bytes');
    } finally {
      ws.closeAllConnections();
      await new Promise((r) => ws.close(r));
    }
  });

  it('the HTTP/2 prior-knowledge preface: refused (its :authority is not read)', async () => {
    await refused(/^HTTP\/2 cleartext \(prior knowledge\) inside a tunnel to 127\.0\.0\.1: .*HPACK/, send(`127.0.0.1:${upstreamPort}`, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
  });
});
