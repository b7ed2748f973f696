import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

const { pki, asn1 } = forge;
// getTBSCertificate exists in node-forge but is missing from its type definitions.
const getTBSCertificate = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

/**
 * node-forge lays out the certificate (ASN.1); the signature is made with Node's native crypto,
 * which is an order of magnitude faster than forge's JavaScript RSA and keeps the CA key in a
 * KeyObject instead of a forge big-integer structure.
 */
export interface CertificateSpec {
  subject: forge.pki.CertificateField[];
  issuer: forge.pki.CertificateField[];
  /** The certified key, as a forge public key (parsed once by the caller, reused per leaf). */
  publicKey: forge.pki.PublicKey;
  notBefore: Date;
  notAfter: Date;
  extensions: object[];
  /** The issuer's private key; RSA, signed with SHA-256. */
  signingKey: KeyObject;
}

/** A positive 128-bit serial, as forge wants it: hex, high bit clear, no leading zero byte. */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export function buildCertificate(spec: CertificateSpec): { pem: string; der: Buffer; serial: string } {
  const cert = pki.createCertificate();
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = spec.notBefore;
  cert.validity.notAfter = spec.notAfter;
  cert.setSubject(spec.subject);
  cert.setIssuer(spec.issuer);
  cert.publicKey = spec.publicKey;
  cert.setExtensions(spec.extensions);
  const sha256WithRSA = pki.oids['sha256WithRSAEncryption']!;
  cert.siginfo.algorithmOid = sha256WithRSA;
  cert.signatureOid = sha256WithRSA;
  const tbs = getTBSCertificate(cert);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, spec.signingKey);
  (cert as unknown as { tbsCertificate: unknown }).tbsCertificate = tbs;
  cert.signature = signature.toString('binary');
  const der = Buffer.from(asn1.toDer(pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { pem: derToPem(der), der, serial: cert.serialNumber };
}

export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. Returned as a binary string for forge. */
export function keyIdentifier(publicKey: forge.pki.PublicKey): string {
  const spki = pki.publicKeyToAsn1(publicKey);
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }
  const bits = (spki.value as forge.asn1.Asn1[])[1]!.value as string;
  // the BIT STRING's first byte counts unused bits; the key is what follows
  return createHash('sha1').update(Buffer.from(bits.slice(1), 'binary')).digest().toString('binary');
}

/** Subject alternative names for a host: a DNS name, or an IP literal as an iPAddress entry. */
export function altNamesFor(host: string): object[] {
  return isIP(host) ? [{ type: 7, ip: host }] : [{ type: 2, value: host }];
}
