import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { createCa } from '../tls/ca.js';
import { altNamesFor, buildCertificate, keyIdentifier } from '../tls/certificates.js';

/**
 * The demo's stand-in for Railway needs a certificate of its own, from a CA that is not
 * scopegate's interception CA, so the demo exercises the same verified upstream TLS as production.
 */
export function makeUpstreamCertificate(dir: string, hosts: string[]): { caPath: string; cert: string; key: string } {
  const ca = createCa(dir);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forgePublic = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const now = Date.now();
  const { pem } = buildCertificate({
    subject: [{ name: 'commonName', value: hosts[0]! }],
    issuer: ca.subject,
    publicKey: forgePublic,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    signingKey: ca.signingKey,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.flatMap(altNamesFor) },
      { name: 'subjectKeyIdentifier', subjectKeyIdentifier: Buffer.from(keyIdentifier(forgePublic), 'binary').toString('hex') },
      { name: 'authorityKeyIdentifier', keyIdentifier: ca.keyId },
    ],
  });
  return { caPath: ca.certPath, cert: pem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
