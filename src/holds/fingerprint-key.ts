import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readOrCreateSecret } from '../files/durable.js';

/** The SQLite store's keyed-hash key (DATA_DIR/fingerprint.key, made at first use): approvals' fingerprints and placeholder hashes. */
export function loadFingerprintKey(dataDir: string): Buffer {
  return readOrCreateSecret(join(dataDir, 'fingerprint.key'), (raw) => (raw.length === 32 ? raw : null), () => randomBytes(32));
}
