/**
 * The demo's scripted agent: a plain Node process using the built-in fetch, pointed at scopegate
 * only by its environment (HTTPS_PROXY, NODE_EXTRA_CA_CERTS and the NODE_OPTIONS preload that
 * `scopegate env` prints) — exactly how a real agent's tool would run. It sends the token in its
 * RAILWAY_API_TOKEN (a placeholder, unless someone pasted a real one) and writes one JSON line per
 * call for the demo to narrate.
 *
 * `node agent.js [STEP...]` runs the named steps (default: incident, staging-only). With
 * DEMO_RAILWAY_DIRECT=HOST:PORT it goes straight to Railway at that address instead, as an agent
 * that slips the proxy would (a second network path, a client that ignores HTTPS_PROXY).
 */
import { request } from 'node:https';
import { errorMessage } from '../errors.js';

const HOST = 'backboard.railway.com';
const ENDPOINT = `https://${HOST}/graphql/v2`;

const QUERIES: Record<string, string> = {
  incident: 'mutation cleanupStaging { volumeDelete(volumeId: "vol-7f3a9d") }',
  'staging-only': 'mutation cleanupScratch { volumeDelete(volumeId: "vol-stg-only") }',
  // `retry` replays the staging-only deletion: the identical call, after a person approved it
  retry: 'mutation cleanupScratch { volumeDelete(volumeId: "vol-stg-only") }',
  pasted: 'query { project(id: "prj-pocketos") { name } }',
};

const token = process.env['RAILWAY_API_TOKEN'] ?? '';
const direct = process.env['DEMO_RAILWAY_DIRECT'];

/** Straight to Railway at DEMO_RAILWAY_DIRECT, TLS verified for Railway's name: no proxy, no preload. */
function postDirect(body: string, headers: Record<string, string>): Promise<{ status: number; decisionId: string | null; body: unknown }> {
  const [address, port] = direct!.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port: Number(port), servername: HOST, method: 'POST', path: '/graphql/v2', headers: { ...headers, host: HOST, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, decisionId: null, body: JSON.parse(text) as unknown });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const steps = process.argv.length > 2 ? process.argv.slice(2) : ['incident', 'staging-only'];
for (const step of steps) {
  const query = QUERIES[step];
  if (!query) throw new Error(`unknown step ${step}`);
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const body = JSON.stringify({ query });
  try {
    const r = direct
      ? await postDirect(body, headers)
      : await fetch(ENDPOINT, { method: 'POST', headers, body }).then(async (res) => ({ status: res.status, decisionId: res.headers.get('x-scopegate-decision'), body: (await res.json()) as unknown }));
    process.stdout.write(`${JSON.stringify({ step, query, ...r })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ step, query, error: String((err instanceof Error ? err.cause : undefined) ?? errorMessage(err)) })}\n`);
  }
}
