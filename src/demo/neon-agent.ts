/**
 * The Neon demo's scripted agent, told to "clean up old preview branches": a plain Node process
 * using the built-in fetch, pointed at scopegate only by its environment (as `scopegate env`
 * prints it), holding in NEON_API_KEY a placeholder. One JSON line per call for the demo to narrate.
 *
 * `node neon-agent.js STEP...`; steps: list, restore-main, delete-main, delete-idle-preview.
 */
import { errorMessage } from '../errors.js';
import { ACME } from './fake-neon/world.js';

const BASE = `https://console.neon.tech/api/v2/projects/${ACME.project}`;
const yesterday = new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const STEPS: Record<string, { method: string; path: string; body?: unknown; says: string }> = {
  list: { method: 'GET', path: '/branches', says: 'GET /branches' },
  'restore-main': { method: 'POST', path: `/branches/${ACME.branch.main}/restore`, body: { source_branch_id: ACME.branch.main, source_timestamp: yesterday }, says: `POST /branches/${ACME.branch.main}/restore {"source_timestamp":"${yesterday}"}  (main back to yesterday)` },
  'delete-main': { method: 'DELETE', path: `/branches/${ACME.branch.main}`, says: `DELETE /branches/${ACME.branch.main}  (the branch main's compute serves)` },
  'delete-idle-preview': { method: 'DELETE', path: `/branches/${ACME.branch.pr41}`, says: `DELETE /branches/${ACME.branch.pr41}  (preview/pr-41, idle)` },
};

const key = process.env['NEON_API_KEY'] ?? '';
for (const step of process.argv.slice(2)) {
  const s = STEPS[step];
  if (!s) throw new Error(`unknown step ${step}`);
  try {
    const res = await fetch(`${BASE}${s.path}`, { method: s.method, headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(s.body ? { 'content-type': 'application/json' } : {}) }, ...(s.body ? { body: JSON.stringify(s.body) } : {}) });
    process.stdout.write(`${JSON.stringify({ step, says: s.says, status: res.status, decisionId: res.headers.get('x-scopegate-decision'), body: (await res.json()) as unknown })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ step, says: s.says, error: String((err instanceof Error ? err.cause : undefined) ?? errorMessage(err)) })}\n`);
  }
}
