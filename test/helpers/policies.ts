import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proxy-process.js';

/** The shipped default policy's sets, defaults and rules, after the given head (version, providers, credentials…). */
export function withShippedRules(head: string[]): string {
  const shipped = readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8').split('\n');
  return [...head, ...shipped.slice(shipped.findIndex((l) => l.startsWith('sets:')))].join('\n');
}

/** The shipped rules with Railway guarded and one credential in custody, `railway-owner`, read from `secretEnv`. */
export function custodyPolicyYaml(secretEnv: string): string {
  return withShippedRules(['version: 1', 'providers:', '  railway: {}', 'credentials:', '  railway-owner:', '    provider: railway', `    secret_env: ${secretEnv}`]);
}
