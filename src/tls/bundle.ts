import { rootCertificates } from 'node:tls';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority } from './ca.js';

export const BUNDLE_FILE = 'bundle.pem';

/**
 * The scopegate CA followed by the system roots. Clients whose variable *replaces* their trust
 * store (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO, AWS_CA_BUNDLE) need
 * both: scopegate's CA for intercepted hosts, the public roots for tunnelled ones.
 * Rewritten only when its content changes.
 */
export function writeTrustBundle(ca: CertificateAuthority): string {
  const path = join(ca.dir, BUNDLE_FILE);
  const content = `# scopegate CA (${ca.certPath}) followed by the system roots\n${ca.certPem.trim()}\n${rootCertificates.join('\n')}\n`;
  let existing: string | null = null;
  try {
    existing = readFileSync(path, 'utf8');
  } catch {
    existing = null;
  }
  if (existing !== content) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: 0o644 });
    renameSync(tmp, path);
  }
  return path;
}
