import { describe, expect, it } from 'vitest';
import { buildScanner, findSecret, rawHeadersOf, secretScanner } from '../../src/custody/secret-scan.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { PROVIDERS } from '../../src/providers/registry.js';

/** Secret egress (issue 17, item 6): a custody secret in any of its spellings is found; nothing else is. */
const UUID = '3f2c9a1e-5b7d-4c2e-9f10-8a7b6c5d4e3f';
const ODD = 'tok_9Zx+/Qw==Lm!%"é\u{1F511}'; // base64 and JSON specials, non-ASCII, an astral character
const scanner = buildScanner([
  { name: 'railway-owner', provider: 'railway', value: UUID },
  { name: 'odd', provider: 'railway', value: ODD },
  { name: 'gh', provider: 'github', value: 'ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789' },
]);
/** What a header or body carries on the wire: UTF-8 bytes, as latin1 (how Node gives them). */
const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const pctEvery = (s: string, upper: boolean): string => [...Buffer.from(s, 'utf8')].map((b) => `%${upper ? b.toString(16).toUpperCase() : b.toString(16)}`.replace(/^%(.)$/, '%0$1')).join('');
const uEscape = (s: string): string => s.split('').map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''); // UTF-16 units: surrogate pairs

describe('secret scanner', () => {
  for (const [name, secret] of [['a UUID token', UUID], ['a token with special characters', ODD]] as const) {
    const b = Buffer.from(secret, 'utf8');
    const spellings: [string, string, string][] = [
      ['as is', `prefix ${secret} suffix`, 'as is'],
      ['base64, padded', b.toString('base64'), 'base64'],
      ['base64, unpadded', b.toString('base64').replace(/=+$/, ''), 'base64'],
      ['base64url', b.toString('base64url'), 'base64'],
      ['base64 of "Bearer TOKEN" (another alignment)', Buffer.from(`Bearer ${secret}`).toString('base64'), 'base64'],
      ['base64url of "u:TOKEN" (the third alignment)', Buffer.from(`u:${secret}`).toString('base64url'), 'base64'],
      ['base64 inside JSON', JSON.stringify({ blob: Buffer.from(`xyz${secret}`).toString('base64') }), 'base64'],
      ['percent-encoded, every byte, lower case', pctEvery(secret, false), 'percent-encoded'],
      ['percent-encoded, every byte, upper case', pctEvery(secret, true), 'percent-encoded'],
      ['percent-encoded, mixed case', pctEvery(secret, true).replace(/%([0-9A-F])([A-F])/g, (_m, a: string, c: string) => `%${a}${c.toLowerCase()}`), 'percent-encoded'],
      ['encodeURIComponent', `q=${encodeURIComponent(secret)}&x=1`, ''],
      ['percent-encoded base64', encodeURIComponent(b.toString('base64')), ''],
      ['\\u-escaped, every character', `{"v":"${uEscape(secret)}"}`, 'JSON-escaped'],
      ['JSON.stringify', JSON.stringify({ v: secret }), ''],
    ];
    for (const [how, hay, encoding] of spellings) {
      it(`finds ${name} ${how}`, () => {
        const hit = scanner.find(wire(hay), 'body');
        expect(hit).toMatchObject({ credential: secret === UUID ? 'railway-owner' : 'odd', where: 'body' });
        if (encoding) expect(hit!.encoding).toBe(encoding);
      });
    }
  }

  it('a near miss is not a secret: one character off, truncated, or base64 of something else', () => {
    const off = `${UUID.slice(0, -1)}0`;
    expect(scanner.find(off, 'body')).toBeNull();
    expect(scanner.find(UUID.slice(0, 30), 'body')).toBeNull();
    expect(scanner.find(Buffer.from(off).toString('base64'), 'body')).toBeNull();
    expect(scanner.find(pctEvery(off, true), 'body')).toBeNull();
    expect(scanner.find(UUID.toUpperCase(), 'body')).toBeNull();
    expect(scanner.find('%zz%4\\u00\\uZZZZ\\', 'body')).toBeNull(); // broken escapes are kept, not thrown on
  });

  it('a secret split across two headers is not one secret', () => {
    expect(findSecret(scanner, { rawHeaders: ['x-a', UUID.slice(0, 18), 'x-b', UUID.slice(18)], target: '/' })).toBeNull();
  });

  it('every header (name and each value of a repeated one), the target and the body are read', () => {
    expect(findSecret(scanner, { rawHeaders: ['x-a', 'one', 'x-a', `two ${UUID}`], target: '/' })).toMatchObject({ credential: 'railway-owner', where: 'header x-a' });
    expect(findSecret(scanner, { rawHeaders: [`X-${UUID}`, 'v'], target: '/' })).toMatchObject({ where: `header x-${UUID}` });
    expect(findSecret(scanner, { rawHeaders: ['host', 'h'], target: `/p?t=${encodeURIComponent(Buffer.from(UUID).toString('base64'))}` })).toMatchObject({ where: 'request target' });
    expect(findSecret(scanner, { rawHeaders: [], target: '/', body: Buffer.from(`{"a":"${UUID}"}`) })).toMatchObject({ where: 'body' });
    expect(findSecret(scanner, { rawHeaders: rawHeadersOf({ 'x-list': ['a', UUID] }), target: '/' })).toMatchObject({ where: 'header x-list' });
  });

  it('a token already let through by custody is not counted again in its own provider\'s token header, and only there', () => {
    const own = { provider: 'railway', headers: new Set(['authorization']) };
    expect(findSecret(scanner, { rawHeaders: ['Authorization', `Bearer ${UUID}`], target: '/' }, own)).toBeNull();
    expect(findSecret(scanner, { rawHeaders: ['Authorization', `Bearer ${UUID}`, 'x-copy', UUID], target: '/' }, own)).toMatchObject({ where: 'header x-copy' });
    expect(findSecret(scanner, { rawHeaders: ['Authorization', 'Bearer ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'], target: '/' }, own)).toMatchObject({ credential: 'gh' });
  });

  it('no credentials: nothing to find, and the same empty scanner every time', () => {
    const policy = parsePolicy('version: 1\nproviders:\n  railway: {}\n', 'p.yaml', PROVIDERS, {});
    const s = secretScanner(policy);
    expect(s.empty).toBe(true);
    expect(findSecret(s, { rawHeaders: ['x', UUID], target: `/${UUID}`, body: Buffer.from(UUID) })).toBeNull();
    expect(buildScanner([]).empty).toBe(true);
  });

  it('is built once per policy', () => {
    const policy = parsePolicy('version: 1\nproviders:\n  railway: {}\ncredentials:\n  r:\n    provider: railway\n    secret_env: T\n', 'p.yaml', PROVIDERS, { T: UUID });
    const s = secretScanner(policy);
    expect(s.empty).toBe(false);
    expect(secretScanner(policy)).toBe(s);
    expect(s.find(Buffer.from(UUID).toString('base64'), 'body')).toMatchObject({ credential: 'r' });
  });
});
