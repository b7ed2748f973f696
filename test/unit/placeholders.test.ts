import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteHoldStore } from '../../src/holds/sqlite-store.js';
import type { HoldStore } from '../../src/holds/store-types.js';
import { Placeholders, ceilingEntryProblem, hashPlaceholderToken, placeholderStatus } from '../../src/custody/placeholders.js';
import { railway } from '../../src/providers/railway/index.js';

// count constant-time comparisons: verify must make one before a stored hash counts
const compared = vi.hoisted(() => ({ calls: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      compared.calls++;
      return real.timingSafeEqual(a, b);
    },
  };
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;

let dir: string;
let store: SqliteHoldStore;
let placeholders: Placeholders;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sg-placeholders-'));
  store = new SqliteHoldStore(dir);
  placeholders = await Placeholders.forStore(store);
});
afterEach(async () => await store.close());

describe('Placeholders', () => {
  it("mints Railway placeholders shaped like Railway's tokens (UUID v4), each different, with tok- ids", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { token, placeholder } = await placeholders.mint({ agent: 'bot', credential: 'railway-staging', adapter: railway }, T0);
      expect(token).toMatch(UUID);
      expect(placeholder.id).toMatch(/^tok-[0-9a-f]{8}$/);
      expect(seen.has(token)).toBe(false);
      seen.add(token);
    }
    expect(await placeholders.list(T0)).toHaveLength(20);
  });

  it('a provider without mintPlaceholder gets a long random token', async () => {
    const { token } = await placeholders.mint({ agent: 'bot', credential: 'c', adapter: { name: 'toy' } }, T0);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('stores only the keyed hash: the token is in no file of the data dir, in the clear or base64', async () => {
    const { token, placeholder } = await placeholders.mint({ agent: 'bot', credential: 'railway-staging', adapter: railway, environments: ['staging', 'pr-*'], ttlMs: 8 * HOUR }, T0);
    expect(placeholder).toMatchObject({ agent: 'bot', credential: 'railway-staging', environments: ['staging', 'pr-*'], createdAt: T0, expiresAt: T0 + 8 * HOUR, lastUsedAt: null, revokedAt: null });
    expect(placeholder.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(placeholder.tokenHash).toBe(hashPlaceholderToken(readFileSync(join(dir, 'fingerprint.key')), token));
    expect(JSON.stringify(await store.listPlaceholders())).not.toContain(token);
    await store.close();
    const forms = [token, Buffer.from(token).toString('base64'), Buffer.from(token).toString('base64url'), token.replace(/-/g, '')];
    const files = readdirSync(dir);
    expect(files).toContain('scopegate.db');
    for (const f of files) {
      const bytes = readFileSync(join(dir, f));
      for (const form of forms) expect(bytes.includes(Buffer.from(form)), `${f} holds the token as ${form}`).toBe(false);
    }
    store = new SqliteHoldStore(dir);
  });

  it('verify: live, revoked, expired, unknown', async () => {
    const live = await placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway, ttlMs: HOUR }, T0);
    const forever = await placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway }, T0);
    expect(await placeholders.verify(live.token, T0 + 1)).toEqual({ status: 'live', placeholder: live.placeholder });
    expect((await placeholders.verify(forever.token, T0 + 1000 * HOUR))?.status).toBe('live');
    expect((await placeholders.verify(live.token, T0 + HOUR))?.status).toBe('expired');
    expect(await placeholders.verify(live.token.toUpperCase(), T0)).toBeNull();
    expect(await placeholders.verify('5e0b1c7e-1111-4222-8333-123456789abc', T0)).toBeNull();
    expect(await placeholders.verify('', T0)).toBeNull();

    const revoked = await placeholders.revoke(forever.placeholder.id, T0 + 5);
    expect(revoked).toMatchObject({ id: forever.placeholder.id, status: 'revoked' });
    const v = await placeholders.verify(forever.token, T0 + 6);
    expect(v?.status).toBe('revoked');
    expect(v?.placeholder.revokedAt).toBe(T0 + 5);
    // revoking again keeps the first time; revoked wins over expired
    await placeholders.revoke(forever.placeholder.id, T0 + 50);
    expect((await store.findPlaceholder(forever.placeholder.tokenHash))?.revokedAt).toBe(T0 + 5);
    await placeholders.revoke(live.placeholder.id, T0 + 7);
    expect((await placeholders.verify(live.token, T0 + 2 * HOUR))?.status).toBe('revoked');
    expect(await placeholders.revoke('tok-00000000', T0)).toBeNull();
  });

  it('verify compares the stored hash with the presented one in constant time, and trusts no lookup alone', async () => {
    const { token, placeholder } = await placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway }, T0);
    compared.calls = 0;
    expect((await placeholders.verify(token, T0))?.status).toBe('live');
    expect(compared.calls).toBe(1);
    // a store that answers with a placeholder whose hash is not the presented token's: refused
    const lying: HoldStore = Object.assign(Object.create(store) as HoldStore, { findPlaceholder: async () => ({ ...placeholder, tokenHash: placeholder.tokenHash.replace(/^./, (c) => (c === '0' ? '1' : '0')) }) });
    const over = new Placeholders(lying, readFileSync(join(dir, 'fingerprint.key')));
    compared.calls = 0;
    expect(await over.verify(token, T0)).toBeNull();
    expect(compared.calls).toBe(1);
    // another key, another hash: a placeholder is only found with its own store's key
    expect(await new Placeholders(store, Buffer.alloc(32, 7)).verify(token, T0)).toBeNull();
  });

  it('list: newest first, with status, never the token or its hash; markUsed keeps the latest time', async () => {
    const a = await placeholders.mint({ agent: 'a', credential: 'c', adapter: railway, ttlMs: HOUR }, T0);
    const b = await placeholders.mint({ agent: 'b', credential: 'c', adapter: railway, environments: ['@primary'] }, T0 + 10);
    await placeholders.markUsed(b.placeholder.id, T0 + 20);
    await placeholders.markUsed(b.placeholder.id, T0 + 15);
    const list = await placeholders.list(T0 + 2 * HOUR);
    expect(list.map((p) => [p.id, p.status])).toEqual([
      [b.placeholder.id, 'live'],
      [a.placeholder.id, 'expired'],
    ]);
    expect(list[0]).toEqual({
      id: b.placeholder.id,
      agent: 'b',
      credential: 'c',
      environments: ['@primary'],
      createdAt: new Date(T0 + 10).toISOString(),
      expiresAt: null,
      lastUsedAt: new Date(T0 + 20).toISOString(),
      status: 'live',
    });
    const text = JSON.stringify(list);
    for (const m of [a, b]) {
      expect(text).not.toContain(m.token);
      expect(text).not.toContain(m.placeholder.tokenHash);
    }
  });

  it('survives closing and reopening the store, with the same key', async () => {
    const { token, placeholder } = await placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway }, T0);
    await store.close();
    store = new SqliteHoldStore(dir);
    const again = await Placeholders.forStore(store);
    expect((await again.verify(token, T0))?.placeholder.id).toBe(placeholder.id);
  });

  it('refuses a bad ceiling entry or lifetime', async () => {
    await expect(placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway, environments: ['a b'] }, T0)).rejects.toThrow(/space or comma/);
    await expect(placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway, ttlMs: 0 }, T0)).rejects.toThrow(/more than zero/);
    await expect(placeholders.mint({ agent: 'bot', credential: 'c', adapter: railway, ttlMs: -1 }, T0)).rejects.toThrow(/more than zero/);
  });
});

describe('ceiling entries and status', () => {
  it('accepts names, ids, @primary and * globs; refuses the rest', async () => {
    for (const ok of ['staging', 'pr-*', '@primary', 'a1b2c3d4-0000-4000-8000-000000000000', 'Production', 'feature/x']) expect(ceilingEntryProblem(ok), ok).toBeNull();
    for (const bad of ['', 'a b', '@secondary', '*', 'pr-?', 'x'.repeat(129)]) expect(ceilingEntryProblem(bad), bad).not.toBeNull();
  });

  it('placeholderStatus: revoked wins over expired; expiry is at expiresAt', async () => {
    const p = { id: 'tok-1', agent: 'a', credential: 'c', tokenHash: '', environments: [], createdAt: 0, expiresAt: 10, lastUsedAt: null, revokedAt: null };
    expect(placeholderStatus(p, 9)).toBe('live');
    expect(placeholderStatus(p, 10)).toBe('expired');
    expect(placeholderStatus({ ...p, revokedAt: 5 }, 20)).toBe('revoked');
  });
});
