import catalogueData from './catalogue.json' with { type: 'json' };
import type { ProviderAdapter } from '../types.js';
import { classifyField, type Catalogue } from './classify.js';

export const catalogue = catalogueData as unknown as Catalogue;

export const railway: ProviderAdapter = {
  name: 'railway',
  // .app is the legacy name older tools and the CLI before 2025 still call; it must be guarded too.
  defaultHosts: ['backboard.railway.com', 'backboard.railway.app'],
  // Railway has no Team-Access-Token header (its docs withdrew it); never let it reach the API.
  strippedHeaders: new Set(['team-access-token']),
  classify: (field) => classifyField(catalogue, field),
  knownMutations: () => Object.keys(catalogue.mutations),
};
