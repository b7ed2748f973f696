import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { STORE_FILE } from './sqlite-store.js';

/**
 * Which store holds the durable state: `--store sqlite:PATH` (the default, a file in --data-dir)
 * or `--store postgres://…` (shared by replicas). The Postgres URL is libpq's; it may carry a
 * password, so it is kept apart from anything that is ever printed: `shown` is the redacted form.
 */
export type StoreSpec =
  | { kind: 'sqlite'; dir: string; file: string; shown: string }
  | { kind: 'postgres'; url: string; shown: string };

/** The default: DATA_DIR/scopegate.db. */
export function defaultStore(dataDir: string): StoreSpec {
  return { kind: 'sqlite', dir: dataDir, file: STORE_FILE, shown: `sqlite:${join(dataDir, STORE_FILE)}` };
}

/**
 * `--store` wins over `SCOPEGATE_STORE`; neither: SQLite in the data dir. A bad value is a
 * UsageError whose message never repeats a password.
 */
export function parseStoreSpec(flag: string | undefined, env: NodeJS.ProcessEnv, dataDir: string): StoreSpec {
  const value = flag ?? env['SCOPEGATE_STORE'];
  const from = flag !== undefined ? '--store' : 'SCOPEGATE_STORE';
  if (value === undefined || value.trim() === '') return defaultStore(dataDir);
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length);
    if (path === '' || path.endsWith('/')) throw new UsageError(`${from} "${value}" must be sqlite:PATH, a file (for example sqlite:.scopegate/scopegate.db)`);
    return { kind: 'sqlite', dir: dirname(path), file: basename(path), shown: `sqlite:${path}` };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new UsageError(`${from} "${redactStoreUrl(value)}" is not a URL; write postgres://USER:PASSWORD@HOST:PORT/DB`);
    }
    if (u.pathname.length <= 1) throw new UsageError(`${from} "${redactStoreUrl(value)}" names no database; write postgres://USER@HOST:PORT/DB (the database must exist)`);
    return { kind: 'postgres', url: value, shown: redactStoreUrl(value) };
  }
  throw new UsageError(`${from} "${redactStoreUrl(value)}" must be sqlite:PATH or postgres://USER@HOST:PORT/DB`);
}

/**
 * A store URL fit to print: the password (in the authority, or as ?password=) replaced by ***.
 * Works on text that does not parse as a URL too, so an error about a malformed URL cannot leak it.
 */
export function redactStoreUrl(text: string): string {
  let out = text;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(out);
  if (scheme) {
    // the userinfo ends at the LAST @ before the query: a password may itself hold @ or / unencoded
    const start = scheme[0].length;
    const queryAt = out.search(/[?#]/);
    const end = out.lastIndexOf('@', queryAt === -1 ? out.length : queryAt);
    const colon = out.indexOf(':', start);
    if (end > start && colon !== -1 && colon < end) out = `${out.slice(0, colon)}:***${out.slice(end)}`;
  }
  return out.replace(/([?&]password=)[^&#]*/gi, '$1***');
}
