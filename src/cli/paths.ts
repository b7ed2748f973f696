import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: dist/cli/ is two levels below it, as src/cli/ is. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shipped default policy, found from the package so `npx scopegate start` works from any folder. */
export const DEFAULT_POLICY = join(PACKAGE_ROOT, 'policies', 'default.yaml');

export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
