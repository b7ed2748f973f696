import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { TestUpstream } from '../helpers/upstream.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { exchange } from '../helpers/raw-client.js';

/** --transparent on loopback: connections arrive without CONNECT; the host comes from SNI. */
const GUARDED = 'backboard.railway.com';
let pki: TestPki;
let upstream: TestUpstream;
let proxy: ProxyProcess;
let tport = 0;

beforeAll(async () => {
  pki = makeTestPki('upstream', [GUARDED, 'tunnel.test']);
  upstream = await new TestUpstream(pki).start();
  proxy = await startProxy({ args: ['--transparent', '127.0.0.1:0', '--hold-timeout', '0', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`, '--route', `tunnel.test=127.0.0.1:${upstream.port}`] });
  const listening = await proxy.waitForLog((l) => l.msg === 'listening');
  tport = Number(String(listening['transparent']).split(':').pop());
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
});

function tlsTo(servername: string | undefined, ca: string) {
  return new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: tport, ...(servername ? { servername } : {}), ca, ALPNProtocols: ['http/1.1'] });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before TLS completed')));
  });
}

describe('transparent mode', () => {
  it('a guarded SNI is intercepted: the incident call is judged and denied; a read passes', async () => {
    const before = upstream.seen.length;
    const evil = JSON.stringify({ query: 'mutation { volumeDelete(volumeId: "vol-7f3a9d") }' });
    const a = await exchange(await tlsTo(GUARDED, proxy.caPem), `POST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\nContent-Length: ${evil.length}\r\nConnection: close\r\n\r\n${evil}`);
    expect(a).toContain('SCOPEGATE_HOLD_PENDING');
    expect(upstream.seen.length).toBe(before);
    const read = JSON.stringify({ query: '{ me { id } }' });
    const b = await exchange(await tlsTo(GUARDED, proxy.caPem), `POST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\nContent-Length: ${read.length}\r\nConnection: close\r\n\r\n${read}`);
    expect(b).toMatch(/^HTTP\/1.1 200/);
    expect(upstream.seen.length).toBe(before + 1);
    const line = await proxy.waitForLog((l) => l.msg === 'request' && l.via === 'transparent' && l.decision === 'allow');
    expect(line.host).toBe(GUARDED);
  });
  it('a host that is not guarded is tunnelled to its SNI name: the client sees the real certificate', async () => {
    const s = await tlsTo('tunnel.test', pki.caPem);
    expect(s.getPeerCertificate().issuer.CN).toBe('upstream test CA');
    const a = await exchange(s, 'GET /hello HTTP/1.1\r\nHost: tunnel.test\r\nConnection: close\r\n\r\n');
    expect(a).toMatch(/^HTTP\/1.1 200/);
  });
  it('a ClientHello without SNI, or bytes that are not TLS, are refused', async () => {
    await expect(tlsTo(undefined, proxy.caPem)).rejects.toThrow();
    const plain = netConnect(tport, '127.0.0.1');
    await new Promise((r) => plain.once('connect', r));
    expect(await exchange(plain, `GET / HTTP/1.1\r\nHost: ${GUARDED}\r\n\r\n`)).toBe('');
    await proxy.waitForLog((l) => l.via === 'transparent' && /without a server name \(SNI\)/.test(String(l.reason)));
    await proxy.waitForLog((l) => l.via === 'transparent' && /TLS only/.test(String(l.reason)));
  });
});
