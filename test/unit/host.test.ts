import { describe, expect, it } from 'vitest';
import { BadAuthorityError } from '../../src/errors.js';
import { HostMatcher, normaliseHost, parseAuthority } from '../../src/net/host.js';

describe('normaliseHost: every spelling of one host compares equal', () => {
  const same: [string, string][] = [
    ['backboard.railway.com', 'backboard.railway.com'],
    ['BACKBOARD.Railway.COM', 'backboard.railway.com'],
    ['backboard.railway.com.', 'backboard.railway.com'],
    ['[::1]', '::1'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['127.0.0.1', '127.0.0.1'],
    // IDNA maps dot look-alikes to "."; the trailing dot that makes goes too (found by the property tests)
    ['backboard.railway.com\u3002', 'backboard.railway.com'],
    ['backboard\uff0erailway.com', 'backboard.railway.com'],
  ];
  for (const [input, expected] of same) it(`${input} → ${expected}`, () => expect(normaliseHost(input)).toBe(expected));

  for (const bad of ['', 'a b.com', 'exa mple', 'under_score!.com', '..', 'a..b', 'x'.repeat(300), 'evil.com..', 'x.evil.com..', 'a.\u00ad.']) {
    it(`rejects ${JSON.stringify(bad.slice(0, 20))}`, () => expect(normaliseHost(bad)).toBeNull());
  }
});

describe('normaliseHost remembers answers without changing them', () => {
  it('gives the same answer, null included, the second time and after its memory was cleared by 5000 other names', () => {
    const inputs = ['BACKBOARD.Railway.COM', 'backboard.railway.com\u3002', 'a..b', 'bücher.example', '[::1]', 'evil.com..'];
    const first = inputs.map((i) => normaliseHost(i));
    expect(first).toEqual(['backboard.railway.com', 'backboard.railway.com', null, 'xn--bcher-kva.example', '::1', null]);
    expect(inputs.map((i) => normaliseHost(i))).toEqual(first);
    for (let i = 0; i < 5000; i++) expect(normaliseHost(`H${i}.example`)).toBe(`h${i}.example`);
    expect(inputs.map((i) => normaliseHost(i))).toEqual(first);
  });
});

describe('parseAuthority', () => {
  it('parses host:port, [v6]:port and applies a default port', () => {
    expect(parseAuthority('Backboard.Railway.com.:443')).toEqual({ host: 'backboard.railway.com', port: 443 });
    expect(parseAuthority('[2001:db8::1]:8443')).toEqual({ host: '2001:db8::1', port: 8443 });
    expect(parseAuthority('example.com', 80)).toEqual({ host: 'example.com', port: 80 });
  });
  const bad = ['example.com', 'example.com:0', 'example.com:65536', 'example.com:443x', 'user@example.com:443', 'example.com:443/path', '2001:db8::1:443', '[2001:db8::1', '[zz]:443', ':443', 'a'.repeat(400) + ':443'];
  for (const b of bad) {
    it(`rejects ${JSON.stringify(b.slice(0, 30))}`, () => expect(() => parseAuthority(b)).toThrow(BadAuthorityError));
  }
});

describe('HostMatcher', () => {
  const m = new HostMatcher(['Backboard.Railway.com', '*.npmjs.org']);
  it('matches exact names and subdomains of wildcards, normalised', () => {
    expect(m.matches('backboard.railway.com')).toBe(true);
    expect(m.matches('registry.npmjs.org')).toBe(true);
    expect(m.matches('a.b.npmjs.org')).toBe(true);
  });
  it('does not match the wildcard base, lookalikes or suffix tricks', () => {
    expect(m.matches('npmjs.org')).toBe(false);
    expect(m.matches('evilnpmjs.org')).toBe(false);
    expect(m.matches('backboard.railway.com.evil.test')).toBe(false);
    expect(m.matches('xbackboard.railway.com')).toBe(false);
  });
});
