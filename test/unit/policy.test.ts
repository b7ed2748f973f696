import { PROVIDERS } from '../../src/providers/registry.js';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckFailed } from '../../src/errors.js';
import { parsePolicy, type Policy } from '../../src/policy/policy.js';
import { evaluate } from '../../src/policy/evaluate.js';
import type { Operation, OperationClass } from '../../src/inspect/operation.js';
import type { Scope } from '../../src/scope/scope.js';
import { identify } from '../../src/gate/identify.js';
import { ROOT } from '../helpers/proxy-process.js';

const load = (name: string): Policy => parsePolicy(readFileSync(join(ROOT, 'policies', name), 'utf8'), name, PROVIDERS);

const op = (cls: OperationClass, name = 'someMutation', type: Operation['type'] = 'mutation'): Operation => ({
  provider: 'railway', type, effect: type === 'query' || type === 'subscription' ? 'read' : 'write', name, alias: null, operationName: null, args: {}, class: cls,
  target: { type: 'volume', id: 'vol-1', with: {} }, reach: null, flags: [], classReason: null, payloadKind: null, conditional: false,
});

const env = (name: string) => ({ id: `env-${name}`, name });
const SCOPES: Record<'safe' | 'protected' | 'unresolved' | 'not-needed', Scope> = {
  safe: { status: 'resolved', environments: [env('staging')], shared: false, liveDeployments: [] },
  protected: { status: 'resolved', environments: [env('Production'), env('staging')], shared: true, liveDeployments: [] },
  unresolved: { status: 'unresolved', reason: 'lookup timed out', environments: [], shared: false, liveDeployments: [] },
  'not-needed': { status: 'not-needed', environments: [], shared: false, liveDeployments: [] },
};

/** interface.md, "The shipped default policy": class × scope → action. */
const TABLE: [OperationClass, string, string, string][] = [
  // class                       resolved-safe  protected  unresolved
  ['read', 'allow', 'allow', 'allow'],
  ['create', 'allow', 'allow', 'hold'],
  ['modify', 'allow', 'allow', 'hold'],
  ['deploy', 'allow', 'allow', 'hold'],
  ['destructive-recoverable', 'allow', 'hold', 'hold'],
  ['destructive-irreversible', 'hold', 'deny', 'hold'],
  ['credential', 'hold', 'hold', 'hold'],
  ['benign', 'allow', 'allow', 'allow'],
  ['unknown', 'hold', 'hold', 'hold'],
];

describe('policies/default.yaml is exactly the table in interface.md', () => {
  const policy = load('default.yaml');
  for (const [cls, safe, prot, unres] of TABLE) {
    it(cls, () => {
      const needsNoLookup = cls === 'read' || cls === 'benign';
      const decide = (s: Scope) => evaluate(policy, { agent: 'anonymous', operation: op(cls, 'x', cls === 'read' ? 'query' : 'mutation'), scope: needsNoLookup ? SCOPES['not-needed'] : s }).action;
      expect([decide(SCOPES.safe), decide(SCOPES.protected), decide(SCOPES.unresolved)]).toEqual([safe, prot, unres]);
    });
  }
  it('the provider-marked primary environment is protected whatever its name', () => {
    const renamed: Scope = { status: 'resolved', environments: [{ id: 'env-1', name: 'blue', primary: true }], shared: false, liveDeployments: [] };
    expect(evaluate(policy, { agent: 'a', operation: op('destructive-irreversible'), scope: renamed }).action).toBe('deny');
    const other: Scope = { status: 'resolved', environments: [{ id: 'env-2', name: 'blue' }], shared: false, liveDeployments: [] };
    expect(evaluate(policy, { agent: 'a', operation: op('destructive-irreversible'), scope: other }).action).toBe('hold');
  });
  it('protected environment names match case-insensitively, and by id', () => {
    const byId: Scope = { status: 'resolved', environments: [{ id: 'env-9', name: 'PROD' }], shared: false, liveDeployments: [] };
    expect(evaluate(policy, { agent: 'a', operation: op('destructive-irreversible'), scope: byId }).action).toBe('deny');
  });
  it('explains itself: the rule and the facts that held', () => {
    const v = evaluate(policy, { agent: 'anonymous', operation: op('destructive-irreversible', 'volumeDelete'), scope: SCOPES.protected });
    expect(v.rule).toBe('never-destroy-protected');
    expect(v.because).toEqual(['class destructive-irreversible', 'it reaches Production, in protected-environments']);
  });
});

describe('policies/strict.yaml denies all destruction and what it cannot judge', () => {
  const policy = load('strict.yaml');
  it.each([
    ['destructive-recoverable', 'safe', 'deny'],
    ['destructive-irreversible', 'safe', 'deny'],
    ['credential', 'safe', 'deny'],
    ['unknown', 'safe', 'deny'],
    ['deploy', 'unresolved', 'deny'],
    ['deploy', 'protected', 'deny'],
    ['deploy', 'safe', 'allow'],
  ] as const)('%s with a %s scope → %s', (cls, scope, action) => {
    expect(evaluate(policy, { agent: 'ci', operation: op(cls), scope: SCOPES[scope] }).action).toBe(action);
  });
  it('egress is deny-by-default with an allow list', () => {
    expect(policy.egress.default).toBe('deny');
    expect(policy.egress.allow.matches('registry.npmjs.org')).toBe(true);
  });
});

describe('rules', () => {
  const policy = parsePolicy(
    [
      'version: 1',
      'sets:',
      '  staging-only: [staging]',
      'agents:',
      '  staging-cleaner: { secret_env: TEST_SECRET_SC }',
      'rules:',
      '  - name: cleaner-staging-only',
      '    match: { agent: staging-cleaner, class: destructive, scope: { environments: { only: staging-only } } }',
      '    action: allow',
      '  - name: cleaner-nothing-else',
      '    match: { agent: staging-cleaner, type: mutation }',
      '    action: deny',
      '  - name: shared-with-backups-on-it',
      '    match: { class: destructive-irreversible, scope: { shared: true, backups: on_target_only } }',
      '    action: deny',
      '  - name: stale-backups',
      '    match: { class: destructive-irreversible, scope: { backups: { older_than: 24h } } }',
      '    action: hold',
      '',
    ].join('\n'),
    'rules.yaml', PROVIDERS,
    { TEST_SECRET_SC: 'a-long-enough-secret' },
  );
  it('an agent may touch only resources bound to staging alone', () => {
    expect(evaluate(policy, { agent: 'staging-cleaner', operation: op('destructive-irreversible'), scope: SCOPES.safe }).action).toBe('allow');
    expect(evaluate(policy, { agent: 'staging-cleaner', operation: op('destructive-irreversible'), scope: SCOPES.protected }).action).toBe('deny');
    expect(evaluate(policy, { agent: 'staging-cleaner', operation: op('destructive-irreversible'), scope: SCOPES.unresolved }).action).toBe('deny');
  });
  it('backups: on the target itself, and freshness', () => {
    const shared: Scope = { ...SCOPES.protected, backups: { count: 2, onTarget: true, newestAt: new Date().toISOString() } };
    expect(evaluate(policy, { agent: 'x', operation: op('destructive-irreversible'), scope: shared }).rule).toBe('shared-with-backups-on-it');
    const stale: Scope = { ...SCOPES.safe, backups: { count: 1, onTarget: false, newestAt: new Date(Date.now() - 3 * 86_400_000).toISOString() } };
    expect(evaluate(policy, { agent: 'x', operation: op('destructive-irreversible'), scope: stale }).rule).toBe('stale-backups');
    const fresh: Scope = { ...SCOPES.safe, backups: { count: 1, onTarget: false, newestAt: new Date().toISOString() } };
    expect(evaluate(policy, { agent: 'x', operation: op('destructive-irreversible'), scope: fresh }).rule).toBe('default:no_match');
  });
  it('facts of an unresolved scope never match; the unresolved default decides', () => {
    expect(evaluate(policy, { agent: 'x', operation: op('destructive-irreversible'), scope: SCOPES.unresolved }).rule).toBe('default:unresolved');
  });
  it('agents: the declared secret is required, unknown names are refused, anonymous is allowed unless refused', () => {
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    expect(identify(policy, basic('staging-cleaner', 'a-long-enough-secret'))).toEqual({ ok: true, agent: 'staging-cleaner' });
    expect(identify(policy, basic('staging-cleaner', 'wrong-secret-here'))).toMatchObject({ ok: false });
    expect(identify(policy, basic('someone', 'x'))).toMatchObject({ ok: false });
    expect(identify(policy, undefined)).toEqual({ ok: true, agent: 'anonymous' });
    const closed = parsePolicy('version: 1\ndefaults: { anonymous: deny }\n', 'x.yaml', PROVIDERS);
    expect(identify(closed, undefined)).toMatchObject({ ok: false });
  });
});

describe('policy validation after the shape: file:line:column and the field', () => {
  const problems = (text: string, env: NodeJS.ProcessEnv = {}): string[] => {
    try {
      parsePolicy(text, 'p.yaml', PROVIDERS, env);
      return [];
    } catch (err) {
      if (!(err instanceof CheckFailed)) throw err;
      return err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`);
    }
  };
  it('duplicate rule names', () => {
    expect(problems('version: 1\nrules:\n  - name: a\n    action: allow\n  - name: a\n    action: deny\n')).toEqual(['5:11 rules[1].name: a rule named "a" already exists; rule names must be unique']);
  });
  it('secrets never inline, and must exist', () => {
    expect(problems('version: 1\nagents:\n  bot: { secret: hunter2 }\n')[0]).toMatch(/3:10 agents.bot.secret: unknown key "secret"/);
    expect(problems('version: 1\nagents:\n  bot: { secret_env: NOPE }\n')[0]).toMatch(/agents.bot.secret_env: the environment variable NOPE is not set/);
    expect(problems('version: 1\nagents:\n  bot: {}\n')[0]).toMatch(/agents.bot: give exactly one of secret_env/);
  });
  it('undeclared agents and rules that can never match', () => {
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { agent: ghost }\n    action: allow\n')[0]).toMatch(/rules\[0\].match.agent: agent "ghost" is not declared/);
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { class: read, scope: { shared: true } }\n    action: deny\n')[0]).toMatch(/can never match: reads and benign calls/);
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { scope: { resolved: false, shared: true } }\n    action: deny\n')[0]).toMatch(/can never match/);
  });
  it('a misspelt class suggests the intended one', () => {
    expect(problems("version: 1\nrules:\n  - name: a\n    match: { class: destructve }\n    action: deny\n")[0]).toMatch(/4:21 rules\[0\].match.class: "destructve" is not one of .*; did you mean "destructive"\?/);
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { clas: read }\n    action: deny\n')[0]).toMatch(/unknown key "clas"; did you mean "class"\?/);
    // a token pasted where an agent's secret_env expects a variable name is never printed back
    const pasted = problems('version: 1\nagents:\n  bot:\n    secret_env: sk-live-abcdef0123456789abcdef\n')[0]!;
    expect(pasted).toMatch(/4:17 agents\.bot\.secret_env: the value is not valid: an environment variable name .*the secret goes in that variable, never in the policy/);
    expect(pasted).not.toContain('abcdef0123456789');
    // suggestions never flip meaning: an irreversible word is never pointed at the recoverable class
    const irrecoverable = problems('version: 1\nrules:\n  - name: a\n    match: { class: destructive-irrecoverable }\n    action: deny\n')[0]!;
    expect(irrecoverable).toMatch(/"destructive-irrecoverable" is not one of .*; did you mean "destructive-irreversible"\?/);
    expect(irrecoverable).not.toMatch(/did you mean "destructive-recoverable"/);
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { class: permanent }\n    action: deny\n')[0]).toMatch(/did you mean "destructive-irreversible"\?/);
    expect(problems('version: 1\nrules:\n  - name: a\n    match: { class: recoverable }\n    action: deny\n')[0]).toMatch(/did you mean "destructive-recoverable"\?/);
  });
  it('egress.allow_without_sni: addresses and CIDR ranges; a bad entry is named with its line', () => {
    const ok = parsePolicy('version: 1\negress:\n  allow_without_sni: [10.1.2.3, 192.0.2.0/24, "2001:db8::/32"]\n', 'p.yaml', PROVIDERS);
    expect(['10.1.2.3', '192.0.2.77', '2001:db8::1', '10.1.2.4'].map((a) => ok.egress.allowWithoutSni.has(a))).toEqual([true, true, true, false]);
    expect(parsePolicy('version: 1\n', 'p.yaml', PROVIDERS).egress.allowWithoutSni.has('127.0.0.1')).toBe(false);
    expect(problems('version: 1\negress:\n  allow_without_sni:\n    - 10.0.0.0/33\n    - not-an-ip\n')).toEqual([
      '4:7 egress.allow_without_sni[0]: "10.0.0.0/33": the prefix length must be a whole number from 0 to 32',
      '5:7 egress.allow_without_sni[1]: "not-an-ip" is not an IP address or CIDR range (e.g. 10.1.2.3, 192.0.2.0/24, 2001:db8::/32)',
    ]);
  });
  it('the shipped policies are valid', () => {
    for (const f of ['default.yaml', 'strict.yaml', 'observe.yaml']) expect(() => load(f)).not.toThrow();
  });
});

describe('policies/policy.schema.json', () => {
  it('is the JSON Schema generated from the checker shape (regenerate with `scopegate policy schema`)', async () => {
    const { policyJsonSchema } = await import('../../src/policy/json-schema.js');
    expect(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')).toBe(policyJsonSchema([...PROVIDERS.keys()]));
  });
});
