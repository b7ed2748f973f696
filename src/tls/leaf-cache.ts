import { generateKeyPairSync } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { performance } from 'node:perf_hooks';
import forge from 'node-forge';
import type { CertificateAuthority } from './ca.js';
import { altNamesFor, buildCertificate, keyIdentifier } from './certificates.js';

const { pki } = forge;

export interface LeafCacheOptions {
  /** How many hosts' certificates to keep. */
  maxEntries?: number;
  /** How long a leaf is valid. Short: a leaked leaf key is worth little for long. */
  validityDays?: number;
  /** Called after each mint with its duration, for metrics. */
  onMint?: (ms: number) => void;
}

interface Leaf {
  context: SecureContext;
  pem: string;
  /** When to mint again: a day before the certificate lapses. */
  renewAt: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Mints a certificate per intercepted host and keeps the most recently used ones.
 * All leaves share one key pair made at start-up: the key is the expensive part, and a
 * per-host key buys nothing when one process holds every key anyway.
 */
export class LeafCache {
  private readonly entries = new Map<string, Leaf>();
  private readonly maxEntries: number;
  private readonly validityDays: number;
  private readonly onMint: ((ms: number) => void) | undefined;
  private readonly keyPem: string;
  private readonly forgePublicKey: forge.pki.PublicKey;
  private readonly leafKeyId: string;

  constructor(private readonly ca: CertificateAuthority, options: LeafCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1000;
    this.validityDays = options.validityDays ?? 7;
    this.onMint = options.onMint;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    this.forgePublicKey = pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    this.leafKeyId = Buffer.from(keyIdentifier(this.forgePublicKey), 'binary').toString('hex');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The TLS context presenting a certificate for `host` (already normalised). */
  contextFor(host: string, now = Date.now()): SecureContext {
    return this.leafFor(host, now).context;
  }

  /** The leaf certificate for `host`, as PEM (for tests and `ca show`). */
  certificatePemFor(host: string, now = Date.now()): string {
    return this.leafFor(host, now).pem;
  }

  private leafFor(host: string, now: number): Leaf {
    const cached = this.entries.get(host);
    if (cached && cached.renewAt > now) {
      // re-insert: Map order is our recency order
      this.entries.delete(host);
      this.entries.set(host, cached);
      return cached;
    }
    const leaf = this.mint(host, now);
    this.entries.delete(host);
    this.entries.set(host, leaf);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return leaf;
  }

  private mint(host: string, now: number): Leaf {
    const started = performance.now();
    const notBefore = new Date(now - 60 * 60 * 1000); // an hour of grace for clients with slow clocks
    const notAfter = new Date(now + this.validityDays * DAY_MS);
    // A CN longer than 64 characters is invalid X.509; the SAN is what clients check anyway.
    const subject = host.length <= 64 ? [{ name: 'commonName', value: host }] : [];
    const { pem } = buildCertificate({
      subject,
      issuer: this.ca.subject,
      publicKey: this.forgePublicKey,
      notBefore,
      notAfter,
      signingKey: this.ca.signingKey,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        // RFC 5280: with an empty subject the SAN must be critical.
        { name: 'subjectAltName', altNames: altNamesFor(host), critical: subject.length === 0 },
        { name: 'subjectKeyIdentifier', subjectKeyIdentifier: this.leafKeyId },
        { name: 'authorityKeyIdentifier', keyIdentifier: this.ca.keyId },
      ],
    });
    const context = createSecureContext({ key: this.keyPem, cert: pem, minVersion: 'TLSv1.2' });
    this.onMint?.(performance.now() - started);
    return { context, pem, renewAt: notAfter.getTime() - DAY_MS };
  }
}
