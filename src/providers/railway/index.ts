import catalogueData from './catalogue.json' with { type: 'json' };
import type { ProviderAdapter } from '../types.js';
import { classifyField, type Catalogue } from './classify.js';
import { railwayCredential, resolveRailway } from './resolve.js';
import { credentialId, type Credential } from '../../scope/graphql-lookup.js';

/** scopegate's own read-broad credential, when the operator gives one (see README: resolver credential). */
function resolverCredential(): Credential | null {
  const token = process.env['SCOPEGATE_RAILWAY_RESOLVER_TOKEN'];
  return token ? { header: 'authorization', value: `Bearer ${token}`, kind: 'bearer', id: credentialId(token) } : null;
}

export const catalogue = catalogueData as unknown as Catalogue;

export const railway: ProviderAdapter = {
  name: 'railway',
  // .app is the legacy name older tools and the CLI before 2025 still call; it must be guarded too.
  defaultHosts: ['backboard.railway.com', 'backboard.railway.app'],
  // Railway has no Team-Access-Token header (its docs withdrew it); never let it reach the API.
  strippedHeaders: new Set(['team-access-token']),
  classify: (field) => classifyField(catalogue, field),
  knownMutations: () => Object.keys(catalogue.mutations),
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
    }),
};
