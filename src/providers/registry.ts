import { railway } from './railway/index.js';
import type { ProviderAdapter } from './types.js';

export const PROVIDERS: ReadonlyMap<string, ProviderAdapter> = new Map([[railway.name, railway]]);
