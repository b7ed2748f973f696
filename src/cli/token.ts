import { CheckFailed, PolicyError, RuntimeError, StoreError, UsageError, errorMessage } from '../errors.js';
import { loadPolicyFile } from '../policy/policy.js';
import { PROVIDERS } from '../providers/registry.js';
import { openStore } from '../holds/open-store.js';
import { parseStoreSpec, type StoreSpec } from '../holds/store-spec.js';
import { Placeholders, ceilingEntryProblem, type PlaceholderView } from '../custody/placeholders.js';
import { parse, parseDuration } from './args.js';
import { DEFAULT_POLICY } from './paths.js';

export const TOKEN_HELP = `Usage: scopegate token create --agent NAME --credential NAME [--environments LIST] [--ttl DURATION]
       scopegate token list [--json]
       scopegate token revoke ID

Placeholder tokens (see README, "Credential custody"): the agent holds a placeholder, shaped like
the provider's own tokens (for Railway a UUID), instead of the real token named in the policy's
credentials: section. The store keeps only a keyed hash of each placeholder.

At the gate, a live placeholder in the provider's token header identifies the agent and is swapped
for the real token; --environments is a ceiling checked before any rule (token-ceiling). Sent
anywhere but through scopegate, a placeholder is worthless.

  create    mint a placeholder for an agent and one of the policy's credentials. The token is
            printed once, alone on its line, on stdout (details go to stderr); nothing shows it again
  list      id, agent, credential, ceiling, created, expires, last used, status (live, revoked,
            expired); never a token
  revoke    the placeholder stops working at once

Options:
  --agent NAME          the agent the placeholder identifies (letters, digits, _ . -)
  --credential NAME     a credential under the policy's credentials:
  --environments LIST   ceiling: comma-separated environment names, ids, @primary, or globs such as
                        pr-* (default: no ceiling)
  --ttl DURATION        the placeholder expires after this long: 30m, 8h, 7d (default: never)
  --policy FILE         the policy that names the credentials (default: the shipped default policy,
                        as for start); its secrets must be loadable (variables set, files readable)
  --data-dir DIR        the store: DIR/scopegate.db and its key DIR/fingerprint.key (default .scopegate/)
  --store URL           the store a running scopegate uses, when not the default: sqlite:PATH or
                        postgres://USER:PASSWORD@HOST:PORT/DB (or env SCOPEGATE_STORE); with
                        Postgres a placeholder minted or revoked here holds on every replica
  --json                list: print [{id, agent, credential, environments, createdAt, expiresAt,
                        lastUsedAt, status}]
  -h, --help            this text

Exit status: 0 done, 1 the store failed, 2 bad usage, a bad policy or an unknown id.`;

const AGENT_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;

export async function runToken(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'token',
    argv,
    {
      agent: { type: 'string' },
      credential: { type: 'string' },
      environments: { type: 'string' },
      ttl: { type: 'string' },
      policy: { type: 'string' },
      'data-dir': { type: 'string' },
      store: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (values['help']) {
    process.stdout.write(`${TOKEN_HELP}\n`);
    return 0;
  }
  const [action, id, ...extra] = positionals;
  const needsId = action === 'revoke';
  if (!action || !['create', 'list', 'revoke'].includes(action) || (needsId && !id) || (!needsId && id) || extra.length > 0) {
    throw new UsageError(`scopegate token: say create, list or revoke ID\n\n${TOKEN_HELP}`);
  }
  const only = (allowed: string[]): void => {
    for (const flag of ['agent', 'credential', 'environments', 'ttl', 'policy', 'json']) {
      if (values[flag] !== undefined && !allowed.includes(flag)) throw new UsageError(`scopegate token ${action}: --${flag} does not apply here\nSee: scopegate token --help`);
    }
  };
  const dataDir = (values['data-dir'] as string | undefined) ?? '.scopegate';
  const store = parseStoreSpec(values['store'] as string | undefined, process.env, dataDir);

  if (action === 'create') {
    only(['agent', 'credential', 'environments', 'ttl', 'policy']);
    const agent = values['agent'] as string | undefined;
    const credentialName = values['credential'] as string | undefined;
    if (!agent || !credentialName) throw new UsageError('scopegate token create: --agent NAME and --credential NAME are both required\nSee: scopegate token --help');
    if (!AGENT_NAME.test(agent)) throw new UsageError(`--agent "${agent}" must be letters, digits, _ . - (at most 64)`);
    if (agent === 'anonymous') throw new UsageError('--agent anonymous is the name of callers without an identity; a placeholder names an agent');
    const environments = values['environments'] === undefined ? [] : (values['environments'] as string).split(',').map((e) => e.trim());
    for (const e of environments) {
      const problem = ceilingEntryProblem(e);
      if (problem) throw new UsageError(`--environments: ${problem}`);
    }
    const ttlText = values['ttl'] as string | undefined;
    const ttlMs = ttlText === undefined ? null : parseDuration('--ttl', ttlText);
    if (ttlMs !== null && !(ttlMs > 0)) throw new UsageError(`--ttl "${ttlText}" must be more than zero`);
    const policyPath = (values['policy'] as string | undefined) ?? DEFAULT_POLICY;
    let policy;
    try {
      policy = loadPolicyFile(policyPath, PROVIDERS);
    } catch (err) {
      if (err instanceof CheckFailed) throw new UsageError(`invalid policy:\n${err.message}`);
      if (err instanceof PolicyError) throw new UsageError(err.message);
      throw err;
    }
    const credential = policy.credentials.get(credentialName);
    if (!credential) {
      const known = [...policy.credentials.keys()];
      throw new UsageError(
        `--credential "${credentialName}" is not under credentials: in ${policyPath}; ${known.length > 0 ? `its credentials are ${known.join(', ')}` : 'it has no credentials (see README, "Credential custody")'}`,
      );
    }
    const adapter = PROVIDERS.get(credential.provider)!;
    return withStore(store, async (placeholders) => {
      const { token, placeholder } = await placeholders.mint({ agent, credential: credential.name, adapter, environments, ttlMs });
      process.stdout.write(`${token}\n`);
      process.stderr.write(
        `created placeholder ${placeholder.id} for agent ${agent}, credential ${credential.name} (${credential.provider}); ` +
          `ceiling: ${environments.length > 0 ? environments.join(', ') : 'none'}; expires: ${placeholder.expiresAt === null ? 'never' : new Date(placeholder.expiresAt).toISOString()}.\n` +
          'The token above is shown only now; revoke it with: scopegate token revoke ' +
          `${placeholder.id}\n`,
      );
      return 0;
    });
  }

  if (action === 'list') {
    only(['json']);
    return withStore(store, async (placeholders) => {
      const list = await placeholders.list();
      process.stdout.write(values['json'] ? `${JSON.stringify(list, null, 2)}\n` : `${listText(list)}\n`);
      return 0;
    });
  }

  only([]);
  return withStore(store, async (placeholders) => {
    const p = await placeholders.revoke(id!);
    if (!p) throw new UsageError(`no placeholder ${id} in ${store.shown}; scopegate token list shows them`);
    process.stdout.write(`revoked ${p.id} (agent ${p.agent}, credential ${p.credential}): it stops working at once\n`);
    return 0;
  });
}

async function withStore(spec: StoreSpec, act: (p: Placeholders) => Promise<number>): Promise<number> {
  let store;
  try {
    store = await openStore(spec);
  } catch (err) {
    throw err instanceof StoreError ? new RuntimeError(err.message) : err;
  }
  try {
    let placeholders: Placeholders;
    try {
      placeholders = await Placeholders.forStore(store);
    } catch (err) {
      throw new RuntimeError(`cannot read the store's key in ${spec.shown}: ${errorMessage(err)}`);
    }
    try {
      return await act(placeholders);
    } catch (err) {
      throw err instanceof StoreError ? new RuntimeError(`the store ${spec.shown} failed: ${err.message}`) : err;
    }
  } finally {
    await store.close();
  }
}

function listText(list: PlaceholderView[]): string {
  if (list.length === 0) return 'no placeholders';
  const rows = [
    ['ID', 'AGENT', 'CREDENTIAL', 'CEILING', 'CREATED', 'EXPIRES', 'LAST USED', 'STATUS'],
    ...list.map((p) => [p.id, p.agent, p.credential, p.environments.join(',') || '-', p.createdAt, p.expiresAt ?? 'never', p.lastUsedAt ?? 'never', p.status]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
