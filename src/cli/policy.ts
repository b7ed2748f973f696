import { PROVIDERS } from '../providers/registry.js';
import { CheckFailed, PolicyError, UsageError } from '../errors.js';
import { loadPolicyFile } from '../policy/policy.js';
import { parse } from './args.js';
import { policyJsonSchema } from '../policy/json-schema.js';

export const POLICY_HELP = `Usage: scopegate policy check FILE
       scopegate policy schema

  check    validate a policy. Every problem is printed as FILE:LINE:COLUMN: field: message,
           and a misspelt key gets a suggestion. Exit 0 when valid, 2 when not.
  schema   print the policy's JSON Schema (for editor completion; policies/policy.schema.json)

Options:
  -h, --help   this text`;

export function runPolicy(argv: string[]): number {
  const { values, positionals } = parse('policy', argv, {}, true);
  if (values['help']) {
    process.stdout.write(`${POLICY_HELP}\n`);
    return 0;
  }
  if (positionals[0] === 'schema' && positionals.length === 1) {
    process.stdout.write(policyJsonSchema([...PROVIDERS.keys()]));
    return 0;
  }
  if (positionals[0] !== 'check' || positionals.length !== 2) throw new UsageError(`scopegate policy: say check FILE or schema\n\n${POLICY_HELP}`);
  const file = positionals[1]!;
  try {
    const policy = loadPolicyFile(file, PROVIDERS);
    const hosts = policy.providers.flatMap((p) => p.hosts);
    process.stdout.write(`${file}: valid (mode ${policy.mode}; ${policy.rules.length} rules; guards ${hosts.join(', ') || 'no host'}; egress default ${policy.egress.default})\n`);
    return 0;
  } catch (err) {
    if (err instanceof CheckFailed || err instanceof PolicyError) throw new UsageError(err.message);
    throw err;
  }
}
