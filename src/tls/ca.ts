import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, existsSync, unlinkSync } from 'node:fs';
import { writeFileDurably } from '../files/durable.js';
import { CaError, errorCode, errorMessage } from '../errors.js';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import forge from 'node-forge';
import { buildCertificate, keyIdentifier } from './certificates.js';

const { pki } = forge;

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
const CA_VALIDITY_YEARS = 5;

/** The interception CA, loaded: what leaf minting needs, and nothing that prints the key. */
export interface CertificateAuthority {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  /** Parsed once; leaves copy its subject into their issuer field. */
  subject: forge.pki.CertificateField[];
  /** The CA's key identifier, which every leaf names as its Authority Key Identifier. */
  keyId: string;
  signingKey: KeyObject;
  x509: X509Certificate;
}

export function caPaths(dir: string): { dir: string; certPath: string; keyPath: string } {
  const abs = resolve(dir);
  return { dir: abs, certPath: join(abs, CA_CERT_FILE), keyPath: join(abs, CA_KEY_FILE) };
}

/** Create a new CA in `dir`. Refuses to overwrite: a replaced CA breaks every client that trusts the old one. */
export function createCa(dir: string, now = new Date()): CertificateAuthority {
  const paths = caPaths(dir);
  if (existsSync(paths.certPath) || existsSync(paths.keyPath)) {
    throw new CaError(`a CA already exists in ${paths.dir}; remove ${CA_CERT_FILE} and ${CA_KEY_FILE} first to make a new one`);
  }
  try {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CaError(`cannot create the CA directory ${paths.dir}: ${errorMessage(err)}`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forgePublic = pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const keyId = keyIdentifier(forgePublic);
  const stamp = now.toISOString().slice(0, 10);
  const subject = [
    { name: 'commonName', value: `scopegate interception CA (${hostname().slice(0, 30)} ${stamp})` },
    { name: 'organizationName', value: 'scopegate' },
  ];
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const { pem } = buildCertificate({
    subject,
    issuer: subject,
    publicKey: forgePublic,
    notBefore: new Date(now.getTime() - 60 * 60 * 1000),
    notAfter,
    signingKey: privateKey,
    extensions: [
      // Python 3.13's VERIFY_X509_STRICT wants both of these critical on a CA.
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier', subjectKeyIdentifier: Buffer.from(keyId, 'binary').toString('hex') },
    ],
  });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    writeFileDurably(paths.keyPath, keyPem, 0o600);
    writeFileDurably(paths.certPath, pem, 0o644);
  } catch (err) {
    // never leave a key without its certificate (or the reverse) behind
    for (const p of [paths.keyPath, paths.certPath]) {
      try { unlinkSync(p); } catch { /* already absent */ }
    }
    throw new CaError(`cannot write the CA into ${paths.dir}: ${errorMessage(err)}; make the directory writable or choose another with --ca-dir`);
  }
  return loadCa(dir);
}

export function loadCa(dir: string): CertificateAuthority {
  const paths = caPaths(dir);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(paths.certPath, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      throw new CaError(`there is no CA in ${paths.dir}; make one with \`scopegate ca init --ca-dir ${dir}\` (or \`scopegate start\` makes it)`);
    }
    throw new CaError(`cannot read the CA certificate ${paths.certPath}: ${errorCode(err) ?? errorMessage(err)}`);
  }
  try {
    keyPem = readFileSync(paths.keyPath, 'utf8');
  } catch (err) {
    throw new CaError(`cannot read the CA key ${paths.keyPath}: ${errorCode(err) ?? errorMessage(err)}`);
  }
  let x509: X509Certificate;
  let signingKey: KeyObject;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    throw new CaError(`${paths.certPath} is not a PEM certificate`);
  }
  try {
    signingKey = createPrivateKey(keyPem);
  } catch {
    // the parser's message could quote key material; say only which file
    throw new CaError(`${paths.keyPath} is not a PEM private key`);
  }
  if (signingKey.asymmetricKeyType !== 'rsa') {
    throw new CaError(`${paths.keyPath} is a ${signingKey.asymmetricKeyType} key; scopegate's CA must be RSA`);
  }
  if (!x509.checkPrivateKey(signingKey)) {
    throw new CaError(`${paths.keyPath} does not belong to ${paths.certPath}`);
  }
  if (!x509.ca) throw new CaError(`${paths.certPath} is not a CA certificate (basicConstraints CA:FALSE)`);
  const forgeCert = pki.certificateFromPem(certPem);
  const skiExt = forgeCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  const keyId = skiExt?.subjectKeyIdentifier
    ? Buffer.from(skiExt.subjectKeyIdentifier, 'hex').toString('binary')
    : keyIdentifier(pki.publicKeyFromPem(createPublicKey(signingKey).export({ type: 'spki', format: 'pem' }).toString()));
  return {
    ...paths,
    certPem,
    subject: forgeCert.subject.attributes as forge.pki.CertificateField[],
    keyId,
    signingKey,
    x509,
  };
}

/** Load the CA in `dir`, making one first if there is none. `created` says which happened. */
export function ensureCa(dir: string): { ca: CertificateAuthority; created: boolean } {
  const paths = caPaths(dir);
  const hasCert = existsSync(paths.certPath);
  const hasKey = existsSync(paths.keyPath);
  if (hasCert !== hasKey) {
    throw new CaError(`${paths.dir} holds ${hasCert ? CA_CERT_FILE : CA_KEY_FILE} without ${hasCert ? CA_KEY_FILE : CA_CERT_FILE}; restore the missing file or remove both to make a new CA`);
  }
  if (hasCert) return { ca: loadCa(dir), created: false };
  return { ca: createCa(dir), created: true };
}

/** A key readable by group or others is a key someone else may already have. */
export function keyFileIsPrivate(keyPath: string): boolean {
  return (statSync(keyPath).mode & 0o077) === 0;
}

export function describeCa(ca: CertificateAuthority): Record<string, string> {
  return {
    subject: ca.x509.subject.replace(/\n/g, ', '),
    sha256: ca.x509.fingerprint256,
    notBefore: new Date(ca.x509.validFrom).toISOString(),
    notAfter: new Date(ca.x509.validTo).toISOString(),
    certificate: ca.certPath,
    key: ca.keyPath,
  };
}
