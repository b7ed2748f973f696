import { describe, expect, it } from 'vitest';
import { captureHello } from '../helpers/client-hello.js';
import { parseClientHello } from '../../src/net/client-hello.js';
import { readRequestHead } from '../../src/net/cleartext-http.js';

/** Re-frame one handshake message into two TLS records: a fragmented ClientHello. */
function fragment(hello: Buffer, at: number): Buffer {
  const hs = hello.subarray(5);
  const rec = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  return Buffer.concat([rec(hs.subarray(0, at)), rec(hs.subarray(at))]);
}

describe('parseClientHello', () => {
  it('reads the SNI and ALPN of a real ClientHello', async () => {
    const h = await captureHello('backboard.railway.com', ['h2', 'http/1.1']);
    expect(parseClientHello(h)).toEqual({ kind: 'hello', sni: 'backboard.railway.com', alpn: ['h2', 'http/1.1'] });
  });
  it('a ClientHello without SNI (an IP literal target) has sni null', async () => {
    expect(parseClientHello(await captureHello(undefined))).toMatchObject({ kind: 'hello', sni: null });
  });
  it('needs more until the whole ClientHello is there, fed a byte at a time', async () => {
    const h = await captureHello('backboard.railway.com');
    for (let i = 1; i < h.length; i++) expect(parseClientHello(h.subarray(0, i)).kind, `at ${i}`).toBe('need-more');
    expect(parseClientHello(h)).toMatchObject({ sni: 'backboard.railway.com' });
  });
  it('reads a ClientHello fragmented over two records, whatever the split', async () => {
    const h = await captureHello('backboard.railway.com');
    for (const at of [1, 4, 10, 50, 100]) expect(parseClientHello(fragment(h, at))).toMatchObject({ kind: 'hello', sni: 'backboard.railway.com' });
  });
  it('refuses two server names, impossible lengths and non-handshake interleaving', async () => {
    const h = await captureHello('backboard.railway.com');
    // a second server_name extension appended: rewrite lengths to keep the rest consistent
    const sniExt = Buffer.from([0x00, 0x00, 0x00, 0x0d, 0x00, 0x0b, 0x00, 0x00, 0x08, ...Buffer.from('evil.com')]);
    const hs = h.subarray(5);
    const body = hs.subarray(4);
    // find the extensions block: walk the fixed fields
    let p = 34;
    p += 1 + body[p]!;
    p += 2 + body.readUInt16BE(p);
    p += 1 + body[p]!;
    const extLen = body.readUInt16BE(p);
    const newBody = Buffer.concat([body.subarray(0, p), Buffer.from([(extLen + sniExt.length) >> 8, (extLen + sniExt.length) & 0xff]), body.subarray(p + 2), sniExt]);
    const newHs = Buffer.concat([Buffer.from([0x01, 0, newBody.length >> 8, newBody.length & 0xff]), newBody]);
    const doubled = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, newHs.length >> 8, newHs.length & 0xff]), newHs]);
    expect(parseClientHello(doubled)).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/appears twice/) });
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]))).toMatchObject({ kind: 'malformed' });
    expect(parseClientHello(Buffer.concat([fragment(h, 10).subarray(0, 15), Buffer.from([0x17, 0x03, 0x03, 0x00, 0x01, 0x00])]))).toMatchObject({ kind: 'malformed' });
  });
  it('says not-tls for cleartext, and finds a cleartext request\'s Host', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'not-tls' });
    expect(readRequestHead(Buffer.from('POST /graphql/v2 HTTP/1.1\r\nHost: Backboard.Railway.com\r\n\r\n'))).toMatchObject({ kind: 'request', authorities: ['Backboard.Railway.com'] });
    expect(readRequestHead(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))).toEqual({ kind: 'not-http' });
  });
});
