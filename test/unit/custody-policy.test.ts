import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { PROVIDERS } from '../../src/providers/registry.js';
import { CheckFailed } from '../../src/errors.js';
import { parsePolicy, type KnownProviders, type Policy } from '../../src/policy/policy.js';
import { watchPolicy } from '../../src/policy/reload.js';
import { Secret } from '../../src/custody/secret.js';
import type { Logger } from '../../src/audit/logger.js';

const TOKEN = '5e0b1c7e-1111-4222-8333-123456789abc';
const ENV = { RW_STAGING: TOKEN, RW_PROD: 'prod-token-value-0001' };

const policy = (credentials: string, extra = ''): string => `version: 1
providers:
  railway: {}
${extra}credentials:
${credentials}`;

const parse = (text: string, env: NodeJS.ProcessEnv = ENV, known: KnownProviders = PROVIDERS): Policy => parsePolicy(text, 'p.yaml', known, env);

/** The check's messages, one per line, as `policy check` prints them. */
function problems(text: string, env: NodeJS.ProcessEnv = ENV): string {
  try {
    parse(text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(CheckFailed);
    return (err as CheckFailed).message;
  }
  throw new Error('the policy was accepted');
}

describe('policy credentials: (credential custody)', () => {
  it('a good section parses: header and bearer defaults, the secret loaded from the environment or a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-cred-'));
    writeFileSync(join(dir, 'tok'), 'file-token-value-9\n');
    const p = parse(
      policy(`  railway-staging:
    provider: railway
    secret_env: RW_STAGING
  railway-project:
    provider: railway
    secret_file: ${join(dir, 'tok')}
    header: Project-Access-Token
`),
    );
    expect(p.credentialsRequired).toBe(true);
    expect([...p.credentials.keys()]).toEqual(['railway-staging', 'railway-project']);
    const staging = p.credentials.get('railway-staging')!;
    expect(staging).toMatchObject({ name: 'railway-staging', provider: 'railway', header: 'authorization', bearer: true, line: 6 });
    expect(staging.secret.reveal()).toBe(TOKEN);
    const project = p.credentials.get('railway-project')!;
    expect(project).toMatchObject({ header: 'project-access-token', bearer: false, line: 9 });
    expect(project.secret.reveal()).toBe('file-token-value-9');
  });

  it('credentials_required: false is kept; a policy without credentials has none, and requires them by default', () => {
    const p = parse(policy(`  c:\n    provider: railway\n    secret_env: RW_STAGING\n`, 'credentials_required: false\n'));
    expect(p.credentialsRequired).toBe(false);
    const none = parse('version: 1\n');
    expect(none.credentials.size).toBe(0);
    expect(none.credentialsRequired).toBe(true);
  });

  it('an inline secret is refused, saying where secrets go, without repeating the value', () => {
    for (const key of ['secret', 'token', 'value']) {
      const msg = problems(policy(`  c:\n    provider: railway\n    ${key}: ${TOKEN}\n`));
      expect(msg).toContain(`p.yaml:7:5: credentials.c.${key}:`);
      expect(msg).toMatch(/secret_env/);
      expect(msg).toMatch(/secret_file/);
      expect(msg).not.toContain(TOKEN);
      expect(msg).not.toContain(TOKEN.slice(0, 8));
    }
    // a token pasted where a variable name goes, or as the credential itself, is not repeated either
    expect(problems(policy(`  c:\n    provider: railway\n    secret_env: ${TOKEN}\n`))).not.toContain(TOKEN.slice(0, 8));
    const asValue = problems(policy(`  c: ${TOKEN}\n`));
    expect(asValue).toContain('credentials.c: expected a mapping');
    expect(asValue).not.toContain(TOKEN.slice(0, 8));
  });

  it('an unknown provider is refused, with a suggestion', () => {
    const msg = problems(policy(`  c:\n    provider: rialway\n    secret_env: RW_STAGING\n`));
    expect(msg).toContain('p.yaml:6:15: credentials.c.provider: "rialway" is not one of railway, neon; did you mean "railway"?');
  });

  it('a provider the policy does not guard is refused: no call would use the credential', () => {
    const msg = problems(`version: 1\ncredentials:\n  c:\n    provider: railway\n    secret_env: RW_STAGING\n`);
    expect(msg).toMatch(/credentials\.c\.provider: credential "c": provider railway is not guarded by this policy/);
  });

  it('a missing variable, an unreadable or empty file: errors naming the credential and the variable or file', () => {
    const missing = problems(policy(`  railway-staging:\n    provider: railway\n    secret_env: NOT_SET_ANYWHERE\n`));
    expect(missing).toBe('p.yaml:7:17: credentials.railway-staging.secret_env: credential "railway-staging": the environment variable NOT_SET_ANYWHERE is not set or empty');
    expect(problems(policy(`  c:\n    provider: railway\n    secret_env: EMPTY\n`), { EMPTY: '' })).toContain('the environment variable EMPTY is not set or empty');
    const dir = mkdtempSync(join(tmpdir(), 'sg-cred-'));
    writeFileSync(join(dir, 'empty'), '\n');
    expect(problems(policy(`  c:\n    provider: railway\n    secret_file: ${join(dir, 'empty')}\n`))).toContain(`credentials.c.secret_file: credential "c": ${join(dir, 'empty')} is empty`);
    expect(problems(policy(`  c:\n    provider: railway\n    secret_file: ${join(dir, 'absent')}\n`))).toContain(`credentials.c.secret_file: credential "c": cannot read ${join(dir, 'absent')}: ENOENT`);
  });

  it('both secret_env and secret_file, or neither, is refused', () => {
    const both = problems(policy(`  c:\n    provider: railway\n    secret_env: RW_STAGING\n    secret_file: /etc/hostname\n`));
    expect(both).toContain('p.yaml:6:5: credentials.c: credential "c": give exactly one of secret_env');
    expect(problems(policy(`  c:\n    provider: railway\n`))).toContain('give exactly one of secret_env');
  });

  it("the header must be one the provider takes credentials in; the provider's own is accepted in any case", () => {
    expect(problems(policy(`  c:\n    provider: railway\n    secret_env: RW_STAGING\n    header: Cookie\n`))).toContain('credentials.c.header: credential "c": Cookie is not a header railway takes credentials in (authorization, project-access-token)');
    // Team-Access-Token is stripped before forwarding: Railway has no such header
    expect(problems(policy(`  c:\n    provider: railway\n    secret_env: RW_STAGING\n    header: Team-Access-Token\n`))).toContain('is not a header railway takes');
    const p = parse(policy(`  c:\n    provider: railway\n    secret_env: RW_STAGING\n    header: AUTHORIZATION\n`));
    expect(p.credentials.get('c')).toMatchObject({ header: 'authorization', bearer: true });
  });

  it('agents: secrets still load through the same code, with their old messages', () => {
    const msg = problems(`version: 1\nagents:\n  bot:\n    secret_env: NOT_SET_ANYWHERE\n`);
    expect(msg).toBe('p.yaml:4:17: agents.bot.secret_env: the environment variable NOT_SET_ANYWHERE is not set or empty');
    const ok = parse(`version: 1\nagents:\n  bot:\n    secret_env: RW_PROD\n`);
    expect(ok.agents.get('bot')).toBeDefined();
  });

  it('the loaded secret is never printable: the policy object shows [secret] in every form', () => {
    const p = parse(policy(`  c:\n    provider: railway\n    secret_env: RW_STAGING\n`));
    const c = p.credentials.get('c')!;
    const forms = [JSON.stringify(c), JSON.stringify([...p.credentials]), String(c.secret), `${c.secret}`, inspect(c, { depth: 10, showHidden: true }), inspect(p, { depth: 10 }), c.secret + ''];
    for (const f of forms) {
      expect(f).not.toContain(TOKEN);
      expect(f).not.toContain(Buffer.from(TOKEN).toString('base64'));
    }
    expect(String(c.secret)).toBe('[secret]');
    expect(JSON.stringify({ s: c.secret })).toBe('{"s":"[secret]"}');
  });
});

describe('Secret', () => {
  it('gives [secret] to String, template literals, JSON, util.inspect and concatenation; reveal() gives the value', () => {
    const s = new Secret('hunter2-hunter2');
    expect(String(s)).toBe('[secret]');
    expect(`${s}`).toBe('[secret]');
    expect(JSON.stringify(s)).toBe('"[secret]"');
    expect(inspect(s)).toBe('[secret]');
    expect(inspect({ nested: { s } }, { showHidden: true, depth: 5 })).not.toContain('hunter2');
    expect('x' + s).toBe('x[secret]');
    expect(Object.keys(s)).toEqual([]);
    expect(s.reveal()).toBe('hunter2-hunter2');
    expect(s.equals('hunter2-hunter2')).toBe(true);
    expect(s.equals('hunter2-hunter3')).toBe(false);
    expect(s.equals('')).toBe(false);
  });
});

describe('reload with a bad credential', () => {
  it('keeps the policy in force and logs the problem, naming the credential', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-reload-'));
    const file = join(dir, 'policy.yaml');
    const good = policy(`  c:\n    provider: railway\n    secret_env: SG_RELOAD_TEST_TOKEN\n`);
    writeFileSync(file, good);
    process.env['SG_RELOAD_TEST_TOKEN'] = TOKEN;
    const errors: unknown[][] = [];
    const logger = { info: vi.fn(), warn: vi.fn(), error: (...a: unknown[]) => errors.push(a) } as unknown as Logger;
    const applied: Policy[] = [];
    const w = watchPolicy(file, PROVIDERS, logger, (p) => applied.push(p));
    try {
      // a change that loads is applied
      writeFileSync(file, `${good}  d:\n    provider: railway\n    secret_env: SG_RELOAD_TEST_TOKEN\n`);
      process.kill(process.pid, 'SIGHUP');
      await vi.waitFor(() => expect(applied.map((p) => [...p.credentials.keys()])).toContainEqual(['c', 'd']), { timeout: 5000 });
      const before = applied.length;
      // one whose variable is missing is not
      writeFileSync(file, `${good}  e:\n    provider: railway\n    secret_env: SG_RELOAD_TEST_MISSING\n`);
      process.kill(process.pid, 'SIGHUP');
      await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0), { timeout: 5000 });
      expect(applied.length).toBe(before);
      const logged = JSON.stringify(errors);
      expect(logged).toContain('credential \\"e\\"');
      expect(logged).toContain('SG_RELOAD_TEST_MISSING');
      expect(logged).toContain('previous policy stays in force');
      expect(logged).not.toContain(TOKEN);
    } finally {
      w.close();
      delete process.env['SG_RELOAD_TEST_TOKEN'];
    }
  });
});

describe('rotating the real token', () => {
  it('a new value in a secret_file is applied on SIGHUP though the policy text is unchanged; the same value again is not re-applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-rotate-'));
    const file = join(dir, 'policy.yaml');
    const secretFile = join(dir, 'railway-token');
    writeFileSync(secretFile, `${TOKEN}\n`);
    writeFileSync(file, policy(`  c:\n    provider: railway\n    secret_file: ${secretFile}\n`));
    const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() } as unknown as Logger;
    const applied: Policy[] = [];
    const w = watchPolicy(file, PROVIDERS, logger, (p) => applied.push(p));
    try {
      process.kill(process.pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 200));
      expect(applied).toHaveLength(0); // nothing changed
      writeFileSync(secretFile, 'rotated-railway-token-0000\n');
      process.kill(process.pid, 'SIGHUP');
      await vi.waitFor(() => expect(applied.map((p) => p.credentials.get('c')!.secret.reveal())).toEqual(['rotated-railway-token-0000']), { timeout: 5000 });
      process.kill(process.pid, 'SIGHUP');
      await new Promise((r) => setTimeout(r, 200));
      expect(applied).toHaveLength(1);
    } finally {
      w.close();
    }
  });
});
