import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PlaceholderView } from '../../src/custody/placeholders.js';
import { expectNowhere } from '../helpers/secrets.js';
import { CLI } from '../helpers/proxy-process.js';
import { run, type RunResult } from '../helpers/run.js';

/** `scopegate token …` as a user runs it: the built CLI, a temp data dir, a policy with a credential from an env var. */
const REAL = 'real-railway-token-5e0b1c7e-9f1d-4c2a-b3e4-000000000001';
const ENV = { SG_TEST_RAILWAY_TOKEN: REAL };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let dir: string;
let dataDir: string;
let policyFile: string;
const sg = (args: string[], env: NodeJS.ProcessEnv = ENV): Promise<RunResult> => run(process.execPath, [CLI, 'token', ...args], { env, timeoutMs: 15_000 });

type Listed = PlaceholderView;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-token-cli-'));
  dataDir = join(dir, 'data');
  policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
providers:
  railway: {}
credentials:
  railway-staging:
    provider: railway
    secret_env: SG_TEST_RAILWAY_TOKEN
    header: Project-Access-Token
`,
  );
});

describe('scopegate token create | list | revoke', () => {
  it('create prints the token alone on stdout; list (plain and --json) never shows it; revoke changes the status; the state outlives the process', async () => {
    const created = await sg(['create', '--agent', 'deploy-bot', '--credential', 'railway-staging', '--environments', 'staging,pr-*,@primary', '--ttl', '8h', '--policy', policyFile, '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^[^\n]+\n$/);
    const token = created.stdout.trim();
    expect(token).toMatch(UUID);
    expect(created.stderr).not.toContain(token);
    expect(created.stderr).toMatch(/created placeholder tok-[0-9a-f]{8} for agent deploy-bot/);

    const second = await sg(['create', '--agent', 'ci', '--credential', 'railway-staging', '--policy', policyFile, '--data-dir', dataDir]);
    expect(second.code, second.stderr).toBe(0);
    const token2 = second.stdout.trim();
    expect(token2).toMatch(UUID);
    expect(token2).not.toBe(token);

    // a new process each time: what create wrote is in the store
    const plain = await sg(['list', '--data-dir', dataDir], {});
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/deploy-bot\s+railway-staging\s+staging,pr-\*,@primary/);
    const json = await sg(['list', '--json', '--data-dir', dataDir], {});
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as Listed[];
    expect(listed).toHaveLength(2);
    const bot = listed.find((p) => p.agent === 'deploy-bot')!;
    expect(Object.keys(bot).sort()).toEqual(['agent', 'createdAt', 'credential', 'environments', 'expiresAt', 'id', 'lastUsedAt', 'status']);
    expect(bot).toMatchObject({ credential: 'railway-staging', environments: ['staging', 'pr-*', '@primary'], lastUsedAt: null, status: 'live' });
    expect(bot.id).toMatch(/^tok-[0-9a-f]{8}$/);
    expect(Date.parse(bot.expiresAt!) - Date.parse(bot.createdAt)).toBe(8 * 3_600_000);
    expect(listed.find((p) => p.agent === 'ci')).toMatchObject({ environments: [], expiresAt: null, status: 'live' });
    for (const out of [plain.stdout, plain.stderr, json.stdout, json.stderr]) {
      expect(out).not.toContain(token);
      expect(out).not.toContain(token2);
      expect(out).not.toContain(REAL);
    }

    const revoked = await sg(['revoke', bot.id, '--data-dir', dataDir], {});
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${bot.id}`);
    const after = JSON.parse((await sg(['list', '--json', '--data-dir', dataDir], {})).stdout) as Listed[];
    expect(after.find((p) => p.id === bot.id)!.status).toBe('revoked');
    expect(after.find((p) => p.agent === 'ci')!.status).toBe('live');
    expect((await sg(['list', '--data-dir', dataDir], {})).stdout).toMatch(new RegExp(`${bot.id}.*revoked`));

    const unknown = await sg(['revoke', 'tok-00000000', '--data-dir', dataDir], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no placeholder tok-00000000');

    // neither placeholder nor the credential's secret is in any file under the data dir
    expectNowhere(dataDir, [token, token2, REAL]);
  });

  it('usage errors exit 2 with a clear message', async () => {
    const unknownCredential = await sg(['create', '--agent', 'bot', '--credential', 'railway-prod', '--policy', policyFile, '--data-dir', dataDir]);
    expect(unknownCredential.code).toBe(2);
    expect(unknownCredential.stderr).toContain('--credential "railway-prod" is not under credentials:');
    expect(unknownCredential.stderr).toContain('its credentials are railway-staging');
    expect(unknownCredential.stdout).toBe('');

    const missingSecret = await sg(['create', '--agent', 'bot', '--credential', 'railway-staging', '--policy', policyFile, '--data-dir', dataDir], {});
    expect(missingSecret.code).toBe(2);
    expect(missingSecret.stderr).toContain('credential "railway-staging": the environment variable SG_TEST_RAILWAY_TOKEN is not set or empty');
    expect(missingSecret.stderr).toMatch(/policy\.yaml:7:17/);

    for (const [args, message] of [
      [['create', '--credential', 'railway-staging'], '--agent NAME and --credential NAME are both required'],
      [['create', '--agent', 'bot', '--credential', 'railway-staging', '--environments', 'staging,,prod'], '--environments: an empty entry'],
      [['create', '--agent', 'bot', '--credential', 'railway-staging', '--ttl', 'soon'], '--ttl "soon" must be a duration'],
      [['create', '--agent', 'anonymous', '--credential', 'railway-staging'], '--agent anonymous'],
      [['list', '--agent', 'bot'], '--agent does not apply here'],
      [['revoke'], 'say create, list or revoke ID'],
      [['frob'], 'say create, list or revoke ID'],
    ] as const) {
      const r = await sg([...args, ...(args[0] === 'create' ? ['--policy', policyFile] : []), '--data-dir', dataDir]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
    }
  });

  it('--help tells the truth: the verbs, the flags, and that the gate swaps placeholders and holds the ceiling', async () => {
    const h = await sg(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: scopegate token/);
    for (const flag of ['--agent', '--credential', '--environments', '--ttl', '--policy', '--data-dir', '--json']) expect(h.stdout).toContain(flag);
    expect(h.stdout).toMatch(/swapped\s+for the real token/);
    expect(h.stdout).toMatch(/token-ceiling/);
    expect(h.stdout).not.toMatch(/does not yet swap/);
    const top = await run(process.execPath, [CLI, '--help']);
    expect(top.stdout).toContain('  scopegate token create ');
  });
});

describe('scopegate start with a bad credential', () => {
  it('exits 2 naming the credential and the variable, before listening', async () => {
    const r = await run(process.execPath, [CLI, 'start', '--policy', policyFile, '--data-dir', join(dir, 'start-data'), '--ca-dir', join(dir, 'certs'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { env: { SG_TEST_RAILWAY_TOKEN: '' }, timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('credentials.railway-staging.secret_env: credential "railway-staging": the environment variable SG_TEST_RAILWAY_TOKEN is not set or empty');
  });
});
