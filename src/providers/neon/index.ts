import { randomBytes } from 'node:crypto';
import type { ProviderAdapter } from '../types.js';
import { credentialId, type Credential } from '../../scope/live-lookups.js';
import { displayValue } from '../../audit/redact.js';
import { genericScopeEssence } from '../../scope/scope.js';
import { neonCatalogue } from './catalogue.js';
import { NeonRouter } from './routes.js';
import { readNeon } from './read.js';
import { neonCredential, resolveNeon } from './resolve.js';
import { neonAnswer } from './answer.js';

/** scopegate's own read-broad key, when the operator gives one: it sees every project the lookups need. */
function resolverCredential(): Credential | null {
  const token = process.env['SCOPEGATE_NEON_RESOLVER_TOKEN'];
  return token ? { header: 'authorization', value: `Bearer ${token}`, kind: 'bearer', id: credentialId(token) } : null;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A placeholder shaped like a Neon API key: "napi_" and 60 lower-case letters and digits, drawn
 * without modulo bias from a CSPRNG (36 symbols: bytes ≥ 252 are drawn again).
 */
export function mintNeonKey(): string {
  let out = 'napi_';
  while (out.length < 65) {
    for (const b of randomBytes(80)) {
      if (b >= 252) continue;
      out += ALPHABET[b % 36];
      if (out.length === 65) break;
    }
  }
  return out;
}

export const router = new NeonRouter(neonCatalogue);

/** Neon's API accepts its console's session cookies as credentials (OpenAPI: CookieAuth `zenith`, TokenCookieAuth `keycloak_token`). */
const SESSION_COOKIES = new Set(['zenith', 'keycloak_token']);

/** The values of Neon's session cookies in a Cookie header (Node joins repeated Cookie headers with "; "). */
export function sessionCookies(cookie: string | undefined): string[] {
  if (!cookie) return [];
  const out: string[] = [];
  for (const pair of cookie.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    // servers differ on case and spaces around names: match loosely, so no spelling slips past custody
    if (SESSION_COOKIES.has(pair.slice(0, eq).trim().toLowerCase())) out.push(pair.slice(eq + 1).trim());
  }
  return out;
}

export function createNeonAdapter(): ProviderAdapter {
  return {
    name: 'neon',
    defaultHosts: ['console.neon.tech'],
    // the console also accepts its session cookies (zenith, keycloak_token): never logged either
    secretHeaders: ['authorization', 'cookie'],
    strippedHeaders: new Set(),
    read: async (view) => readNeon(neonCatalogue, router, view),
    knownOperations: () => Object.entries(neonCatalogue.operations).filter(([, e]) => e.class !== 'read').map(([id]) => id),
    credential: (headers) => neonCredential(headers),
    resolve: (op, req) => resolveNeon(op, { host: req.host, port: req.port, lookups: req.lookups, signal: req.signal, agentCredential: neonCredential(req.headers), resolverCredential: resolverCredential(), ...(req.trafficWindowMs !== undefined ? { trafficWindowMs: req.trafficWindowMs } : {}) }),
    // the path, the effect-changing query and the body: what Neon runs, and all an approval is bound to
    callEssence: (op) => ({ name: op.name, args: op.args }),
    scopeEssence: (scope) => ({ ...genericScopeEssence(scope), protectedIds: scope.environments.filter((e) => e.protected).map((e) => e.id).sort(), children: scope.facts?.['children'] ?? null }),
    displayArgs: (op) => displayValue(op.args, '', new Set()) as Record<string, unknown>,
    answer: neonAnswer,
    mintPlaceholder: mintNeonKey,
    presentedTokens: (headers) => {
      const out: { header: string; token: string }[] = [];
      const v = headers['authorization'];
      if (typeof v === 'string' && v !== '') {
        // any scheme counts: a key sent as "Basic …" or bare must not slip past custody
        const m = /^Bearer\s+(\S+)\s*$/i.exec(v);
        out.push({ header: 'authorization', token: m ? m[1]! : v.trim() });
      }
      // the console's session cookies authorize the API too (OpenAPI CookieAuth, TokenCookieAuth)
      for (const token of sessionCookies(headers['cookie'])) out.push({ header: 'cookie', token });
      return out;
    },
    help: 'SCOPEGATE_NEON_RESOLVER_TOKEN, when set, is the Neon API key used for lookups (one that sees the projects agents act on)',
  };
}

export const neon: ProviderAdapter = createNeonAdapter();
