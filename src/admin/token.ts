import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readOrCreateSecret } from '../files/durable.js';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface AdminToken {
  token: string;
  /** Where it came from, for the start-up line; never the token itself. */
  source: 'flag' | 'env' | 'file' | 'created';
  path?: string;
}

/** A token given at start: --admin-token (flag) or SCOPEGATE_ADMIN_TOKEN (env). */
export interface GivenAdminToken {
  token: string;
  source: 'flag' | 'env';
}

/**
 * The admin token: the one given (--admin-token, else SCOPEGATE_ADMIN_TOKEN), else
 * DATA_DIR/admin-token, made (mode 0600) at first start. Only the path is ever printed.
 */
export function resolveAdminToken(given: GivenAdminToken | undefined, dataDir: string): AdminToken {
  if (given) return given;
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  let created = false;
  const token = readOrCreateSecret(
    path,
    (raw) => raw.toString('utf8').trim() || null,
    () => {
      created = true;
      return randomBytes(32).toString('base64url');
    },
  );
  return { token, source: created ? 'created' : 'file', path };
}

/** Compare in constant time: hash both sides so their lengths cannot leak either. */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer …`, and from nowhere else. */
export function bearerFrom(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
