import { randomUUID } from 'node:crypto';
import catalogueData from './catalogue.json' with { type: 'json' };
import type { ProviderAdapter } from '../types.js';
import { classifyField, type Catalogue } from './classify.js';
import { railwayCredential, resolveRailway } from './resolve.js';
import { credentialId, type Credential } from '../../scope/live-lookups.js';
import { graphqlReader } from '../../graphql/reader.js';
import { PersistedQueries } from '../../graphql/persisted-queries.js';
import { graphqlAnswer } from '../../graphql/answer.js';
import { displayValue } from '../../audit/redact.js';
import { genericScopeEssence } from '../../scope/scope.js';

/** scopegate's own read-broad credential, when the operator gives one (see README: resolver credential). */
function resolverCredential(): Credential | null {
  const token = process.env['SCOPEGATE_RAILWAY_RESOLVER_TOKEN'];
  return token ? { header: 'authorization', value: `Bearer ${token}`, kind: 'bearer', id: credentialId(token) } : null;
}

export const catalogue = catalogueData as unknown as Catalogue;

/** The headers a Railway token can arrive in (Team-Access-Token is withdrawn, but agents still send it). */
const TOKEN_HEADERS = ['authorization', 'project-access-token', 'team-access-token'] as const;

/** Railway's variable maps: every value in them may be a secret, whatever its name. */
const VARIABLE_MAPS: ReadonlySet<string> = new Set(['variables', 'sharedVariables']);

/**
 * Railway's adapter. Each one keeps the persisted queries it has learnt; the process uses one
 * (`railway`), tests make their own to start from an empty store.
 */
export function createRailwayAdapter(persisted = new PersistedQueries()): ProviderAdapter {
  const reader = graphqlReader('railway', (field) => classifyField(catalogue, field), persisted);
  return {
    name: 'railway',
    // .app is the legacy name older tools and the CLI before 2025 still call; it must be guarded too.
    defaultHosts: ['backboard.railway.com', 'backboard.railway.app'],
    secretHeaders: ['authorization', 'project-access-token', 'team-access-token'],
    // Railway has no Team-Access-Token header (its docs withdrew it); never let it reach the API.
    strippedHeaders: new Set(['team-access-token']),
    read: (view) => reader.read(view),
    websocket: { readPayload: (query, variables) => reader.readPayload(query, variables) },
    knownOperations: () => Object.keys(catalogue.mutations),
    credential: (headers) => {
      const c = railwayCredential(headers);
      return c && !('problem' in c) ? c : null;
    },
    resolve: (op, req) =>
      resolveRailway(op, {
        host: req.host,
        port: req.port,
        lookups: req.lookups,
        signal: req.signal,
        agentCredential: railwayCredential(req.headers),
        resolverCredential: resolverCredential(),
        ...(req.trafficWindowMs !== undefined ? { trafficWindowMs: req.trafficWindowMs } : {}),
        ...(req.deadlineAt !== undefined ? { deadlineAt: req.deadlineAt } : {}),
      }),
    callEssence: (op) => ({ name: op.name, type: op.type, args: op.args }),
    // the staged patch a commit applies and the backups a restore drops are what a person approved
    scopeEssence: (scope) => ({ ...genericScopeEssence(scope), stagedPatch: (scope.facts?.['stagedPatch'] as Record<string, unknown> | undefined) ?? null, newerBackupsDropped: scope.facts?.['newerBackupsDropped'] ?? null }),
    displayArgs: (op) => displayValue(op.args, '', VARIABLE_MAPS) as Record<string, unknown>,
    answer: graphqlAnswer,
    // Railway's project and account tokens are UUIDs; crypto.randomUUID is a CSPRNG's v4 UUID
    mintPlaceholder: () => randomUUID(),
    presentedTokens: (headers) => {
      const out: { header: string; token: string }[] = [];
      for (const header of TOKEN_HEADERS) {
        const v = headers[header];
        if (typeof v !== 'string' || v === '') continue;
        // any scheme counts: a token sent as "Basic …" or bare must not slip past custody
        const m = header === 'authorization' ? /^Bearer\s+(\S+)\s*$/i.exec(v) : null;
        out.push({ header, token: m ? m[1]! : v.trim() });
      }
      return out;
    },
    tokenHeaders: (token) => ({ authorization: `Bearer ${token}` }),
    // the CLI's names: RAILWAY_API_TOKEN an account or workspace token, RAILWAY_TOKEN a project token
    agentTokenEnv: [
      { variable: 'RAILWAY_API_TOKEN', header: 'authorization', bearer: true },
      { variable: 'RAILWAY_TOKEN', header: 'project-access-token', bearer: false },
    ],
    checkExample: { path: '/graphql/v2', method: 'POST', body: { query: 'mutation($id: String!) { volumeDelete(volumeId: $id) }', variables: { id: '<volume id>' } } },
    help: 'SCOPEGATE_RAILWAY_RESOLVER_TOKEN, when set, is used for lookups (a read-broad token: a project token sees only its own environment)',
  };
}

export const railway: ProviderAdapter = createRailwayAdapter();
