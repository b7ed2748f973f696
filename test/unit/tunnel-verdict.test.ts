import { PROVIDERS } from '../../src/providers/registry.js';
import { describe, expect, it } from 'vitest';
import { captureHello } from '../helpers/client-hello.js';
import { readRequestHead } from '../../src/net/cleartext-http.js';
import { firstBytesVerdict, type TunnelOrigin } from '../../src/gate/tunnel-verdict.js';
import { AddressSet, parseAddressEntry } from '../../src/net/address-set.js';
import { addressesOf } from '../../src/net/name-addresses.js';
import { parsePolicy } from '../../src/policy/policy.js';
import type { FirstBytesVerdict, SettledVerdict } from '../../src/proxy/tunnel.js';

const GUARDED = 'backboard.railway.com';
const policy = parsePolicy(['version: 1', 'providers:', '  railway: {}', 'egress:', '  deny: [denied.example]', '  allow_without_sni: [192.0.2.0/24, "2001:db8::/32"]', ''].join('\n'), 'p.yaml', PROVIDERS);
const ROUTES: Record<string, string> = { 'here.example': '203.0.113.9', 'elsewhere.example': '198.51.100.1' };
const origin = (host: string): TunnelOrigin => ({ host, port: 443, tunnelTarget: (name, port) => ({ host: ROUTES[name] ?? name, port }) });
const verdict = (host: string, bytes: string | Buffer): FirstBytesVerdict => firstBytesVerdict(policy, origin(host), typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
const settle = async (v: FirstBytesVerdict): Promise<SettledVerdict | 'need-more'> => (typeof v === 'object' && 'pending' in v ? v.pending : v);

describe('readRequestHead: a cleartext request read as Node\'s parser reads it', () => {
  const head = (s: string) => readRequestHead(Buffer.from(s, 'latin1'));
  it('skips empty lines before the request line; only CR/LF so far needs more', () => {
    expect(head('\r\n\r\n')).toEqual({ kind: 'need-more' });
    expect(head('\r\n\nPOST /graphql/v2 HTTP/1.1\r\nHost: a.example\r\n\r\n')).toMatchObject({ kind: 'request', authorities: ['a.example'] });
  });
  it('any method token, runs of spaces, LF-only lines', () => {
    expect(head('FROB-1 /x HTTP/1.1\r\nHost: a.example\r\n\r\n')).toMatchObject({ kind: 'request', method: 'FROB-1' });
    expect(head('GET  /  HTTP/1.1\nHost: a.example\n\n')).toMatchObject({ kind: 'request', authorities: ['a.example'] });
  });
  it('needs more until the header block ends, fed a byte at a time', () => {
    const req = 'POST http://b.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n';
    for (let i = 1; i < req.length - 1; i++) expect(head(req.slice(0, i)).kind, `at ${i}: ${JSON.stringify(req.slice(0, i))}`).toBe('need-more');
    expect(head(req)).toMatchObject({ kind: 'request', authorities: ['b.example', 'a.example'] });
  });
  it('reads the authority of absolute- and authority-form targets, userinfo dropped', () => {
    expect(head('GET http://user@b.example:8080/x HTTP/1.1\r\nHost: a\r\n\r\n')).toMatchObject({ authorities: ['b.example:8080', 'a'] });
    expect(head('CONNECT b.example:443 HTTP/1.1\r\n\r\n')).toMatchObject({ authorities: ['b.example:443'], hasHost: false });
    expect(head('GET http://b.example/\r\n')).toMatchObject({ kind: 'request', versionless: true, authorities: ['b.example'] });
  });
  it('two Host headers, obs-fold, a bare CR and a malformed header line are unreadable', () => {
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')).toEqual({ kind: 'unreadable', reason: 'two Host headers' });
    expect(head('GET / HTTP/1.1\r\nX: y\r\n Host: b\r\n\r\n')).toMatchObject({ kind: 'unreadable', reason: expect.stringMatching(/obs-fold/) });
    expect(head('GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n')).toMatchObject({ kind: 'unreadable', reason: expect.stringMatching(/bare CR/) });
    expect(head('GET / HTTP/1.1\r\nHost : b\r\n\r\n')).toMatchObject({ kind: 'unreadable' });
  });
  it('the HTTP/2 preface, and other protocols', () => {
    expect(head('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')).toEqual({ kind: 'h2-preface' });
    expect(head('scopegate-test\r\n')).toEqual({ kind: 'not-http' });
    expect(head('EHLO mail.example\r\n')).toEqual({ kind: 'not-http' });
    expect(head('SET key value\r\n')).toEqual({ kind: 'not-http' });
    expect(head('\x00\x01binary')).toEqual({ kind: 'not-http' });
  });
});

describe('firstBytesVerdict: what a CONNECT tunnel may carry', () => {
  it('TLS without SNI: refused, unless the target address is in egress.allow_without_sni', async () => {
    const hello = await captureHello(undefined);
    expect(verdict('127.0.0.1', hello)).toEqual({ refuse: expect.stringMatching(/without a server name \(SNI\) to 127\.0\.0\.1: .*egress\.allow_without_sni/) });
    expect(verdict('tunnel.example', hello)).toEqual({ refuse: expect.stringMatching(/must send the server name tunnel\.example/) });
    expect(verdict('192.0.2.7', hello)).toBe('relay');
    expect(verdict('2001:db8::5', hello)).toBe('relay');
  });
  it('SNI: a guarded name is intercepted; another name must be the CONNECT target', async () => {
    expect(verdict('127.0.0.1', await captureHello(GUARDED))).toEqual({ intercept: GUARDED });
    expect(verdict('here.example', await captureHello('Here.Example.'))).toBe('relay');
    expect(verdict('a.example', await captureHello('b.example'))).toEqual({ refuse: 'the TLS server name b.example is not the CONNECT target a.example: a tunnel carries TLS for the host it was opened to; CONNECT to b.example instead' });
  });
  it('SNI with an address target: the name must resolve (as the tunnel would) to that address', async () => {
    expect(await settle(verdict('203.0.113.9', await captureHello('here.example')))).toBe('relay');
    expect(await settle(verdict('203.0.113.9', await captureHello('elsewhere.example')))).toEqual({ refuse: expect.stringMatching(/^domain fronting: elsewhere\.example resolves to 198\.51\.100\.1, not to the CONNECT target 203\.0\.113\.9/) });
    expect(await settle(verdict('203.0.113.9', await captureHello('nothing.invalid')))).toEqual({ refuse: expect.stringMatching(/cannot rule out domain fronting: .*nothing\.invalid did not resolve/) });
    expect(verdict('203.0.113.9', await captureHello('denied.example'))).toEqual({ refuse: expect.stringMatching(/egress\.deny/) });
  });
  it('cleartext: a guarded Host or authority, another host than the target, and unreadable heads are refused', () => {
    expect(verdict('127.0.0.1', `\r\n\r\nPOST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\n\r\n`)).toEqual({ refuse: expect.stringMatching(/^cleartext HTTP for guarded host backboard\.railway\.com/) });
    expect(verdict('127.0.0.1', `POST http://${GUARDED}/graphql/v2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)).toEqual({ refuse: expect.stringMatching(/^cleartext HTTP for guarded host/) });
    expect(verdict('a.example', 'GET / HTTP/1.1\r\nHost: b.example\r\n\r\n')).toEqual({ refuse: expect.stringMatching(/^cleartext HTTP for b\.example inside a tunnel to a\.example/) });
    expect(verdict('a.example', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n')).toEqual({ refuse: expect.stringMatching(/two Host headers/) });
    expect(verdict('a.example', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n')).toEqual({ refuse: expect.stringMatching(/is not a host name/) });
    expect(verdict('a.example', 'GET / HTTP/1.1\r\n\r\n')).toEqual({ refuse: expect.stringMatching(/without a Host header/) });
    expect(verdict('a.example', 'GET / HTTP/1.1\r\nHost: A.Example:80\r\n\r\n')).toBe('read-http');
    expect(verdict('127.0.0.1', 'GET / HTTP/1.1\r\nHost: b.example\r\n\r\n')).toBe('read-http');
  });
  it('HTTP/2 prior knowledge only to an address in egress.allow_without_sni', () => {
    expect(verdict('127.0.0.1', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')).toEqual({ refuse: expect.stringMatching(/HPACK/) });
    expect(verdict('192.0.2.1', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')).toBe('relay');
  });
});

describe('AddressSet and the resolution a verdict waits on', () => {
  it('addresses and CIDR ranges, IPv4-mapped IPv6 included; bad entries say why', () => {
    const set = new AddressSet(['10.1.2.3', '192.0.2.0/24', '2001:db8::/32']);
    expect(['10.1.2.3', '192.0.2.200', '::ffff:10.1.2.3', '2001:db8:0:0::9'].map((a) => set.has(a))).toEqual([true, true, true, true]);
    expect(['10.1.2.4', '198.51.100.1', 'example.com', '2001:db9::1'].map((a) => set.has(a))).toEqual([false, false, false, false]);
    expect(parseAddressEntry('10.0.0.0/33')).toMatch(/prefix length must be a whole number from 0 to 32/);
    expect(parseAddressEntry('not-an-ip')).toMatch(/is not an IP address or CIDR range/);
  });
  it('a --route address is used as it is; a lookup that hangs fails within its bound', async () => {
    expect(await addressesOf(() => ({ host: '10.9.9.9', port: 1 }), 'x.example', 443)).toEqual(['10.9.9.9']);
    expect(await addressesOf((n, p) => ({ host: n, port: p }), 'localhost', 443)).toContain('127.0.0.1');
    await expect(addressesOf((n, p) => ({ host: n, port: p }), 'nothing.invalid', 443)).rejects.toThrow(/ENOTFOUND|EAI_AGAIN|within/);
  });
});
