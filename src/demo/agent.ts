/**
 * The demo's scripted agent: a plain Node process using the built-in fetch, pointed at scopegate
 * only by its environment (HTTPS_PROXY, NODE_EXTRA_CA_CERTS and the NODE_OPTIONS preload that
 * `scopegate env` prints) — exactly how a real agent's tool would run. It replays the incident and
 * writes one JSON line per call for the demo to narrate.
 */
import { errorMessage } from '../errors.js';

const ENDPOINT = 'https://backboard.railway.com/graphql/v2';

interface Step {
  step: string;
  token: 'project' | 'account';
  query: string;
}

const STEPS: Step[] = [
  { step: 'mismatch', token: 'project', query: 'query { environment(id: "env-prod") { id name volumeInstances { edges { node { volumeId } } } } }' },
  { step: 'incident', token: 'account', query: 'mutation cleanupStaging { volumeDelete(volumeId: "vol-7f3a9d") }' },
  { step: 'staging-only', token: 'account', query: 'mutation cleanupScratch { volumeDelete(volumeId: "vol-stg-only") }' },
];

const tokens = { project: process.env['RAILWAY_TOKEN'] ?? '', account: process.env['RAILWAY_API_TOKEN'] ?? '' };

// `retry` replays only the staging-only deletion: the identical call, after a person approved it
const steps = process.argv[2] === 'retry' ? STEPS.filter((s) => s.step === 'staging-only').map((s) => ({ ...s, step: 'retry' })) : STEPS;
for (const s of steps) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (s.token === 'project') headers['project-access-token'] = tokens.project;
  else headers['authorization'] = `Bearer ${tokens.account}`;
  try {
    const res = await fetch(ENDPOINT, { method: 'POST', headers, body: JSON.stringify({ query: s.query }) });
    const body = (await res.json()) as unknown;
    process.stdout.write(`${JSON.stringify({ step: s.step, query: s.query, status: res.status, decisionId: res.headers.get('x-scopegate-decision'), body })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ step: s.step, query: s.query, error: String((err instanceof Error ? err.cause : undefined) ?? errorMessage(err)) })}\n`);
  }
}
