import { describe, expect, it, beforeAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, type CertificateAuthority } from '../../src/tls/ca.js';
import { LeafCache } from '../../src/tls/leaf-cache.js';

let ca: CertificateAuthority;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-leaf-'));
  ca = createCa(join(dir, 'ca'));
});

function opensslVerify(pem: string, caPath: string): string {
  const leaf = join(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(leaf, pem);
  // -x509_strict is the same strictness Python 3.13 turns on by default
  return execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caPath, leaf], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('leaf certificates', () => {
  it('are valid for the host under strict X.509 checks, for names and IP literals', () => {
    const cache = new LeafCache(ca);
    for (const host of ['backboard.railway.com', '127.0.0.1', '2001:db8::1', `${'a'.repeat(63)}.${'b'.repeat(63)}.example`]) {
      const pem = cache.certificatePemFor(host);
      expect(opensslVerify(pem, ca.certPath)).toMatch(/: OK/);
      const x = new X509Certificate(pem);
      expect(x.checkHost(host) ?? x.checkIP(host)).toBeTruthy();
      expect(x.checkIssued(ca.x509)).toBe(true);
      expect(x.ca).toBe(false);
    }
  });

  it('are valid for days, not years, and carry distinct serials', () => {
    const cache = new LeafCache(ca, { validityDays: 7 });
    const now = Date.now();
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const x = new X509Certificate(cache.certificatePemFor(`h${i}.example`, now));
      serials.add(x.serialNumber);
      const days = (Date.parse(x.validTo) - now) / 86_400_000;
      expect(days).toBeGreaterThan(6.9);
      expect(days).toBeLessThan(7.1);
    }
    expect(serials.size).toBe(50);
  });

  it('does not verify against a CA that did not sign it', () => {
    const other = createCa(join(dir, 'other'));
    const pem = new LeafCache(ca).certificatePemFor('backboard.railway.com');
    expect(() => opensslVerify(pem, other.certPath)).toThrow();
    expect(new X509Certificate(pem).checkIssued(other.x509)).toBe(false);
  });

  it('keeps at most maxEntries hosts, evicting the least recently used, and re-mints near expiry', () => {
    let mints = 0;
    const cache = new LeafCache(ca, { maxEntries: 3, validityDays: 2, onMint: () => mints++ });
    const t = Date.now();
    cache.contextFor('a.test', t);
    cache.contextFor('b.test', t);
    cache.contextFor('c.test', t);
    cache.contextFor('a.test', t); // a is now the most recent
    cache.contextFor('d.test', t); // evicts b
    expect(cache.size).toBe(3);
    expect(mints).toBe(4);
    cache.contextFor('a.test', t);
    expect(mints).toBe(4);
    cache.contextFor('b.test', t);
    expect(mints).toBe(5);
    // a day before the leaf lapses it is minted again
    cache.contextFor('b.test', t + 1.5 * 86_400_000);
    expect(mints).toBe(6);
  });
});
