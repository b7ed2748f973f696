import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface AdminToken {
  token: string;
  /** Where it came from, for the start-up line; never the token itself. */
  source: 'flag' | 'env' | 'file' | 'created';
  path?: string;
}

/**
 * The admin token: --admin-token, else SCOPEGATE_ADMIN_TOKEN, else DATA_DIR/admin-token, made
 * (mode 0600) at first start. Only the path is ever printed.
 */
export function resolveAdminToken(flag: string | undefined, env: string | undefined, dataDir: string): AdminToken {
  if (flag) return { token: flag, source: 'flag' };
  if (env) return { token: env, source: 'env' };
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  try {
    const token = readFileSync(path, 'utf8').trim();
    if (token.length > 0) return { token, source: 'file', path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the admin token ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  const fd = openSync(path, 'w', 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { token, source: 'created', path };
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
