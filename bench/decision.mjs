// The decision path without the live lookup: decode + extract + parse + classify + policy, in
// process, for a typical ~1 KB mutation. Exported for bench/run.mjs; runnable alone.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dist = (p) => import(join(ROOT, 'dist', p));

export async function decisionBench(iterations = 20000) {
  const { inspectRequest } = await dist('inspect/inspect-request.js');
  const { decodeContentEncoding, DEFAULT_BODY_LIMITS } = await dist('inspect/body.js');
  const { parsePolicy } = await dist('policy/policy.js');
  const { judge } = await dist('gate/judge.js');
  const { PROVIDERS } = await dist('providers/registry.js');
  const railway = PROVIDERS.get('railway');
  const policy = parsePolicy(readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8'), 'default.yaml', PROVIDERS);
  const query = `mutation upsertVariables($input: VariableCollectionUpsertInput!, $env: String!) {
    variableCollectionUpsert(input: $input)
    serviceInstanceRedeploy(environmentId: $env, serviceId: "svc-api")
  }`;
  const variables = {
    env: 'env-staging',
    input: { projectId: 'prj-pocketos', environmentId: 'env-staging', serviceId: 'svc-api', replace: false,
      variables: Object.fromEntries(Array.from({ length: 18 }, (_, i) => [`FEATURE_FLAG_${i}`, `value-${i}-${'x'.repeat(12)}`])) },
  };
  const body = Buffer.from(JSON.stringify({ query, variables }));
  const gz = gzipSync(body);
  const scope = { status: 'resolved', environments: [{ id: 'env-staging', name: 'staging' }], shared: false, liveDeployments: [] };
  const one = async (raw, enc) => {
    const decoded = decodeContentEncoding(raw, enc, DEFAULT_BODY_LIMITS);
    const insp = await inspectRequest(railway, { method: 'POST', url: '/graphql/v2', contentType: 'application/json', body: decoded });
    return judge(policy, 'anonymous', insp.operations, async () => scope);
  };
  const d = await one(body);
  if (d.kind !== 'allow') throw new Error(`bench request decided ${d.kind}, expected allow`);
  const measure = async (raw, enc) => {
    for (let i = 0; i < 2000; i++) await one(raw, enc);
    const times = [];
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      await one(raw, enc);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { median: times[times.length >> 1], p99: times[Math.floor(times.length * 0.99)] };
  };
  return { bytes: body.length, plain: await measure(body), gzip: await measure(gz, 'gzip') };
}

/**
 * The same for a Neon REST call (issue 21): path matched against the 163-entry catalogue, query and
 * JSON body read as Neon's server reads them, payload classed, policy judged — a branch restore
 * that keeps the old state, on a preview branch, without the lookup.
 */
export async function neonDecisionBench(iterations = 20000) {
  const { inspectRequest } = await dist('inspect/inspect-request.js');
  const { parsePolicy } = await dist('policy/policy.js');
  const { judge } = await dist('gate/judge.js');
  const { PROVIDERS } = await dist('providers/registry.js');
  const neon = PROVIDERS.get('neon');
  const policy = parsePolicy(readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8'), 'default.yaml', PROVIDERS);
  const url = '/api/v2/projects/acme-shop-482913/branches/br-preview-pr41-7f8a9b/restore?x=1';
  const body = Buffer.from(JSON.stringify({ source_branch_id: 'br-main-91a2b3', source_timestamp: '2026-12-02T12:00:00Z', preserve_under_name: 'preview/pr-41-before-reset' }));
  const scope = { status: 'resolved', environments: [{ id: 'br-preview-pr41-7f8a9b', name: 'preview/pr-41' }], shared: false, liveDeployments: [] };
  const one = async () => {
    const insp = await inspectRequest(neon, { method: 'POST', url, contentType: 'application/json', body });
    return judge(policy, 'anonymous', insp.operations, async () => scope);
  };
  const d = await one();
  if (d.kind !== 'allow' || d.operation.class !== 'destructive-recoverable') throw new Error(`bench Neon request decided ${d.kind} (${d.operation?.class}), expected allow of a recoverable restore`);
  for (let i = 0; i < 2000; i++) await one();
  const times = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await one();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { bytes: body.length, median: times[times.length >> 1], p99: times[Math.floor(times.length * 0.99)] };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await decisionBench();
  const n = await neonDecisionBench();
  console.log(JSON.stringify({ railway: r, neon: n }, null, 2));
}
