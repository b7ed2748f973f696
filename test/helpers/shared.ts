import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from './proxy-process.js';

/**
 * Railway's real public schema and the documents its CLI sends live beside the project (shared/),
 * not in it. Tests that read them skip, saying so, on a clone without that folder.
 */
export const SHARED_RAILWAY: string =
  process.env['SCOPEGATE_RAILWAY_SHARED'] ??
  [resolve(ROOT, '..', 'shared', 'railway'), '/work/shared/railway'].find((p) => existsSync(join(p, 'schema.graphql'))) ??
  resolve(ROOT, '..', 'shared', 'railway');

export const HAVE_SHARED = existsSync(join(SHARED_RAILWAY, 'schema.graphql'));
