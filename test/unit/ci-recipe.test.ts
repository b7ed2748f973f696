import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PROVIDERS } from '../../src/providers/registry.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { evaluate } from '../../src/policy/evaluate.js';
import type { Operation, OperationClass } from '../../src/inspect/operation.js';
import type { Scope } from '../../src/scope/scope.js';
import { ROOT } from '../helpers/proxy-process.js';

// issue 18, item 9: the example workflow deployed on push to main while its own policy refuses
// deploys to a protected environment. The recipe and the policy must agree on what a job does.
const workflow = parseYaml(readFileSync(join(ROOT, 'docker', 'ci', 'github-actions.yml'), 'utf8')) as { jobs: Record<string, { env: Record<string, string>; steps: { id?: string; run?: string }[] }> };
const job = Object.values(workflow.jobs)[0]!;
const policyFile = /--policy (\S+)/.exec(job.steps.find((s) => s.id === 'start')!.run!)![1]!;
const policy = parsePolicy(readFileSync(join(ROOT, policyFile), 'utf8'), policyFile, PROVIDERS);

const op = (cls: OperationClass): Operation => ({
  provider: 'railway', type: 'mutation', effect: 'write', name: 'serviceInstanceDeploy', alias: null, operationName: null, args: {}, class: cls,
  target: { type: 'service', id: 'svc-1', with: {} }, reach: null, flags: [], classReason: null, payloadKind: null, conditional: false,
});
const scopeIn = (name: string): Scope => ({ status: 'resolved', environments: [{ id: `env-${name}`, name }], shared: false, liveDeployments: [] });

describe('the CI recipe and its policy agree', () => {
  const target = job.env['DEPLOY_ENVIRONMENT']!;

  it('the job deploys to a named environment, and its commands use it', () => {
    expect(target).toBeTruthy();
    expect(job.steps.find((s) => s.id === 'job')!.run).toContain('$DEPLOY_ENVIRONMENT');
  });

  it(`the policy the recipe starts (${policyFile}) lets the job deploy and change ${'$'}DEPLOY_ENVIRONMENT`, () => {
    for (const cls of ['deploy', 'modify', 'create'] as const) {
      expect(evaluate(policy, { agent: 'anonymous', operation: op(cls), scope: scopeIn(target) }).action, cls).toBe('allow');
    }
  });

  it('and refuses what the recipe says a CI job may not do: protected environments, destruction, credentials', () => {
    expect(policy.sets.get('protected-environments')!.members.has(target.toLowerCase())).toBe(false);
    expect(evaluate(policy, { agent: 'anonymous', operation: op('deploy'), scope: scopeIn('production') }).action).toBe('deny');
    expect(evaluate(policy, { agent: 'anonymous', operation: op('destructive-recoverable'), scope: scopeIn(target) }).action).toBe('deny');
    expect(evaluate(policy, { agent: 'anonymous', operation: op('credential'), scope: scopeIn(target) }).action).toBe('deny');
  });
});
