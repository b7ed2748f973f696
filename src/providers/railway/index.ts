import type { ProviderAdapter } from '../types.js';

export const railway: ProviderAdapter = {
  name: 'railway',
  // .app is the legacy name older tools and the CLI before 2025 still call; it must be guarded too.
  defaultHosts: ['backboard.railway.com', 'backboard.railway.app'],
};
