import { neon } from './neon/index.js';
import { railway } from './railway/index.js';
import type { ProviderAdapter } from './types.js';

export const PROVIDERS: ReadonlyMap<string, ProviderAdapter> = new Map([
  [railway.name, railway],
  [neon.name, neon],
]);
