import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HoldStore, PlaceholderRecord } from '../holds/store-types.js';
import type { ProviderAdapter } from '../providers/types.js';

/**
 * Placeholder tokens (credential custody, phase 1): minted here, shown once, kept in the store
 * only as a keyed hash. The gate (phase 2) identifies an agent by verify()ing the token it
 * presents, refuses revoked and expired ones, and keeps calls within `environments`.
 */

export type PlaceholderStatus = 'live' | 'revoked' | 'expired';

export type Verification = { status: 'live'; placeholder: PlaceholderRecord } | { status: 'revoked' | 'expired'; placeholder: PlaceholderRecord } | null;

export interface MintRequest {
  agent: string;
  /** The policy's credential name. */
  credential: string;
  /** The credential's provider: its mintPlaceholder shapes the token. */
  adapter: Pick<ProviderAdapter, 'name' | 'mintPlaceholder'>;
  /** The ceiling, as given (checked with ceilingEntryProblem); empty or absent: none. */
  environments?: readonly string[];
  /** Lifetime; absent or null: does not expire. */
  ttlMs?: number | null;
}

export interface Minted {
  /** The token itself: shown once to whoever minted it, never stored. */
  token: string;
  placeholder: PlaceholderRecord;
}

/** A placeholder as `token list` shows it: everything but the hash, and its status at `now`. */
export interface PlaceholderView {
  id: string;
  agent: string;
  credential: string;
  environments: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  status: PlaceholderStatus;
}

const HASH_CONTEXT = 'scopegate placeholder v1\0';

/**
 * The keyed hash of a token an agent presents (HMAC-SHA256 with the store's key, hex): how the
 * store finds a placeholder, and how a real token may be named in the audit trail without it.
 */
export function hashPlaceholderToken(key: Buffer, token: string): string {
  return createHmac('sha256', key).update(HASH_CONTEXT).update(token).digest('hex');
}

/** A placeholder's status at `now`: revoked wins over expired. */
export function placeholderStatus(p: PlaceholderRecord, now: number): PlaceholderStatus {
  if (p.revokedAt !== null) return 'revoked';
  if (p.expiresAt !== null && p.expiresAt <= now) return 'expired';
  return 'live';
}

/**
 * Why an `--environments` entry is not one, or null: an environment name or id, `@primary`, or a
 * glob with `*` (pr-*). Stored as given; only the syntax is checked here.
 */
export function ceilingEntryProblem(entry: string): string | null {
  if (entry === '@primary' || entry === '@protected') return null;
  if (entry.length === 0) return 'an empty entry (two commas in a row?)';
  if (entry.length > 128) return `"${entry.slice(0, 20)}…" is longer than 128 characters`;
  if (/[\s,]/.test(entry)) return `"${entry}" has a space or comma in it`;
  if (entry.startsWith('@')) return `"${entry}": the only @ entries are @primary and @protected`;
  if (/[?[\]{}]/.test(entry)) return `"${entry}": only * is a wildcard (as in pr-*)`;
  if (/^\*+$/.test(entry)) return `"${entry}" would allow every environment; leave --environments out for no ceiling`;
  return null;
}

export class Placeholders {
  constructor(
    private readonly store: HoldStore,
    private readonly key: Buffer,
  ) {}

  /** Over a store, with the store's own key (made at its first use, shared by every process on it). */
  static async forStore(store: HoldStore): Promise<Placeholders> {
    return new Placeholders(store, await store.fingerprintKey());
  }

  /** The keyed hash of a presented token, with this store's key. */
  hash(token: string): string {
    return hashPlaceholderToken(this.key, token);
  }

  /** A new placeholder: the token is returned here, once; the store keeps only its hash. */
  async mint(req: MintRequest, now: number = Date.now()): Promise<Minted> {
    const environments = [...(req.environments ?? [])];
    for (const e of environments) {
      const problem = ceilingEntryProblem(e);
      if (problem) throw new Error(`environments: ${problem}`);
    }
    if (req.ttlMs !== undefined && req.ttlMs !== null && !(req.ttlMs > 0)) throw new Error('a placeholder lifetime must be more than zero');
    const token = req.adapter.mintPlaceholder ? req.adapter.mintPlaceholder() : randomBytes(32).toString('base64url');
    const placeholder = await this.store.createPlaceholder(
      { agent: req.agent, credential: req.credential, tokenHash: this.hash(token), environments, expiresAt: req.ttlMs ? now + req.ttlMs : null },
      now,
    );
    return { token, placeholder };
  }

  /**
   * What a presented token is: a live placeholder, a revoked or expired one, or none (null). The
   * store is searched by keyed hash, and the hash found is compared with the presented one in
   * constant time before it counts.
   */
  async verify(token: string, now: number = Date.now()): Promise<Verification> {
    const hash = this.hash(token);
    const found = await this.store.findPlaceholder(hash);
    if (!found) return null;
    const a = Buffer.from(found.tokenHash, 'hex');
    const b = Buffer.from(hash, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    const status = placeholderStatus(found, now);
    return status === 'live' ? { status, placeholder: found } : { status, placeholder: found };
  }

  /** Note that a live placeholder was used (for `token list`). */
  async markUsed(id: string, now: number = Date.now()): Promise<void> {
    await this.store.markPlaceholderUsed(id, now);
  }

  /** Every placeholder, newest first, with its status at `now`; never a token or a hash. */
  async list(now: number = Date.now()): Promise<PlaceholderView[]> {
    return (await this.store.listPlaceholders()).map((p) => view(p, now));
  }

  /** Revoke at once; null when there is no such id. Revoking twice keeps the first time. */
  async revoke(id: string, now: number = Date.now()): Promise<PlaceholderView | null> {
    const p = await this.store.revokePlaceholder(id, now);
    return p ? view(p, now) : null;
  }
}

function view(p: PlaceholderRecord, now: number): PlaceholderView {
  const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
  return {
    id: p.id,
    agent: p.agent,
    credential: p.credential,
    environments: [...p.environments],
    createdAt: new Date(p.createdAt).toISOString(),
    expiresAt: iso(p.expiresAt),
    lastUsedAt: iso(p.lastUsedAt),
    status: placeholderStatus(p, now),
  };
}
