import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteHoldStore, SQLITE_SCHEMA_VERSION, STORE_FILE } from '../../src/holds/sqlite-store.js';
import { PostgresHoldStore, POSTGRES_SCHEMA_VERSION } from '../../src/holds/postgres-store.js';
import { redactStoreUrl } from '../../src/holds/store-spec.js';
import type { HoldStore, NewHold } from '../../src/holds/store-types.js';
import { SKIP_POSTGRES, startPostgres, type PostgresServer } from '../helpers/postgres.js';

/**
 * The HoldStore contract (src/holds/store-types.ts), proved once for every implementation: the
 * same cases run against SQLite (a temp file) and PostgreSQL (a real server, a fresh database per
 * case). "Two processes" are two store instances on one database: what one commits, the other sees.
 */

interface Backend {
  name: string;
  skip: string | false;
  /** A fresh, empty store location. */
  fresh: () => Promise<string>;
  open: (where: string) => Promise<HoldStore>;
  /** Mark the store as written by a newer scopegate. */
  bumpSchema: (where: string, to: number) => Promise<void>;
  known: number;
  notifies: boolean;
}

let server: PostgresServer | undefined;
const dirs: string[] = [];

const backends: Backend[] = [
  {
    name: 'sqlite',
    skip: false,
    fresh: async () => {
      const d = mkdtempSync(join(tmpdir(), 'sg-store-'));
      dirs.push(d);
      return d;
    },
    open: async (dir) => new SqliteHoldStore(dir),
    bumpSchema: async (dir, to) => {
      const db = new Database(join(dir, STORE_FILE));
      db.pragma(`user_version = ${to}`);
      db.close();
    },
    known: SQLITE_SCHEMA_VERSION,
    notifies: false,
  },
  {
    name: 'postgres',
    skip: SKIP_POSTGRES,
    fresh: async () => server!.createDatabase(),
    open: async (url) => PostgresHoldStore.open(url, { shown: redactStoreUrl(url) }),
    bumpSchema: async (url, to) => {
      await server!.sql('INSERT INTO scopegate_schema (version, applied_at) VALUES ($1, 0)', [to], new URL(url).pathname.slice(1));
    },
    known: POSTGRES_SCHEMA_VERSION,
    notifies: true,
  },
];

beforeAll(async () => {
  if (!SKIP_POSTGRES) server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;

function newHold(over: Partial<NewHold> = {}): NewHold {
  return {
    decisionId: `d-${Math.random().toString(36).slice(2)}`,
    agent: 'bot',
    host: 'backboard.railway.com',
    path: '/graphql/v2',
    operation: 'volumeDelete',
    target: { type: 'volume', id: 'vol-1' },
    scope: { environments: [{ name: 'staging' }], note: 'ü ✓' },
    rule: 'destruction',
    reason: 'irreversible',
    operations: [{ name: 'volumeDelete', alias: null, type: 'mutation', class: 'destructive-irreversible', target: { type: 'volume', id: 'vol-1' }, args: { volumeId: 'vol-1' } }],
    fingerprint: 'fp-a',
    scopeFingerprint: 'sfp-a',
    ttlMs: HOUR,
    ...over,
  };
}

describe.each(backends)('HoldStore on $name', (b) => {
  const open: HoldStore[] = [];
  const openStore = async (where: string): Promise<HoldStore> => {
    const s = await b.open(where);
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });
  /** A fresh store, and a second instance on the same data ("another process"). */
  const pair = async (): Promise<[HoldStore, HoldStore, string]> => {
    const where = await b.fresh();
    const one = await openStore(where);
    return [one, await openStore(where), where];
  };

  it.skipIf(b.skip)('createHold: stored as given, pending, with a fresh id; getHold returns it; unknown ids are null', async () => {
    const [s] = await pair();
    const h = await s.createHold(newHold(), T0);
    expect(h).toMatchObject({ status: 'pending', createdAt: T0, expiresAt: T0 + HOUR, decidedAt: null, decidedBy: null, decisionReason: null, approvalExpiresAt: null, usedAt: null, usedByDecision: null, scope: { note: 'ü ✓' } });
    expect(h.id).toMatch(/^H-/);
    expect(await s.getHold(h.id)).toEqual(h);
    expect(await s.getHold('H-nope')).toBeNull();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await s.createHold(newHold(), T0)).id);
    expect(ids.size).toBe(20);
  });

  it.skipIf(b.skip)('hold ids are never reused across processes, even created at the same millisecond', async () => {
    const [a, c] = await pair();
    const made = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : c).createHold(newHold(), T0)));
    expect(new Set(made.map((h) => h.id)).size).toBe(40);
    expect(await a.listHolds(undefined, 100)).toHaveLength(40);
  });

  it.skipIf(b.skip)('createOrJoinHold joins the earliest pending, unexpired hold of a fingerprint, as any process sees it', async () => {
    const [s, other] = await pair();
    const first = await s.createHold(newHold({ ttlMs: 1000 }), T0);
    const second = await s.createHold(newHold(), T0 + 1);
    await s.createHold(newHold({ fingerprint: 'fp-z' }), T0);
    expect(await other.createOrJoinHold(newHold(), T0 + 2)).toEqual({ joined: true, hold: first });
    expect(await other.createOrJoinHold(newHold(), T0 + 1000)).toEqual({ joined: true, hold: second }); // the first lapsed
    await s.decide(second.id, true, 'p', null, HOUR, T0 + 3);
    expect((await other.createOrJoinHold(newHold(), T0 + 1000)).joined).toBe(false);
    expect((await other.createOrJoinHold(newHold({ fingerprint: 'fp-none' }), T0)).joined).toBe(false);
  });

  it.skipIf(b.skip)('createOrJoinHold: a new hold when none of its fingerprint is pending; else that one, joined, as made for the other call', async () => {
    const [s, other] = await pair();
    const first = await s.createOrJoinHold(newHold({ decisionId: 'd-first', ttlMs: 1000 }), T0);
    expect(first).toMatchObject({ joined: false, hold: { status: 'pending', decisionId: 'd-first', createdAt: T0, fingerprint: 'fp-a' } });
    expect(await s.getHold(first.hold.id)).toEqual(first.hold);
    // the identical call through another process joins it; the hold is the first call's
    const again = await other.createOrJoinHold(newHold({ decisionId: 'd-again' }), T0 + 5);
    expect(again).toEqual({ joined: true, hold: first.hold });
    // another call's fingerprint is its own hold
    expect(await other.createOrJoinHold(newHold({ fingerprint: 'fp-b' }), T0 + 6)).toMatchObject({ joined: false, hold: { fingerprint: 'fp-b' } });
    // lapsed (not yet swept): not joined, a new one is made
    const later = await other.createOrJoinHold(newHold({ decisionId: 'd-later' }), T0 + 1000);
    expect(later).toMatchObject({ joined: false, hold: { decisionId: 'd-later' } });
    expect(later.hold.id).not.toBe(first.hold.id);
    // decided: nothing pending to join
    await s.decide(later.hold.id, true, 'p', null, HOUR, T0 + 1001);
    const after = await s.createOrJoinHold(newHold({ decisionId: 'd-after' }), T0 + 1002);
    expect(after.joined).toBe(false);
    expect(new Set([first.hold.id, later.hold.id, after.hold.id]).size).toBe(3);
  });

  it.skipIf(b.skip)('createOrJoinHold: identical calls arriving at once through two processes make exactly one hold; every other call joins it', async () => {
    const [a, c] = await pair();
    for (const round of [1, 2, 3]) {
      const fingerprint = `fp-race-${round}`;
      const made = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : c).createOrJoinHold(newHold({ fingerprint, decisionId: `d-${round}-${i}` }), T0)));
      expect(made.filter((m) => !m.joined), `round ${round}: holds made`).toHaveLength(1);
      expect(new Set(made.map((m) => m.hold.id)).size, `round ${round}: distinct holds`).toBe(1);
      expect((await a.listHolds('pending', 100)).filter((h) => h.fingerprint === fingerprint)).toHaveLength(1);
    }
  });

  it.skipIf(b.skip)('listHolds: newest first, by status when given, at most limit', async () => {
    const [s] = await pair();
    const h1 = await s.createHold(newHold(), T0);
    const h2 = await s.createHold(newHold(), T0 + 1);
    const h3 = await s.createHold(newHold(), T0 + 2);
    await s.decide(h2.id, false, 'p', null, HOUR, T0 + 3);
    expect((await s.listHolds(undefined, 10)).map((h) => h.id)).toEqual([h3.id, h2.id, h1.id]);
    expect((await s.listHolds('pending', 10)).map((h) => h.id)).toEqual([h3.id, h1.id]);
    expect((await s.listHolds('denied', 10)).map((h) => h.id)).toEqual([h2.id]);
    expect(await s.listHolds(undefined, 2)).toHaveLength(2);
  });

  it.skipIf(b.skip)('decide: pending → approved once; a second decision, an expired hold or an unknown id change nothing', async () => {
    const [s, other] = await pair();
    const h = await s.createHold(newHold(), T0);
    const approved = await s.decide(h.id, true, 'alice', 'looks fine', 15 * 60_000, T0 + 10);
    expect(approved).toMatchObject({ status: 'approved', decidedAt: T0 + 10, decidedBy: 'alice', decisionReason: 'looks fine', approvalExpiresAt: T0 + 10 + 15 * 60_000 });
    expect(await other.decide(h.id, false, 'bob', null, HOUR, T0 + 11)).toBeNull();
    expect(await other.getHold(h.id)).toEqual(approved);
    const late = await s.createHold(newHold(), T0);
    expect(await s.decide(late.id, true, 'alice', null, HOUR, T0 + HOUR)).toBeNull();
    expect(await s.decide('H-unknown', true, 'alice', null, HOUR, T0)).toBeNull();
    const denied = await s.decide((await s.createHold(newHold(), T0)).id, false, 'bob', null, HOUR, T0 + 5);
    expect(denied).toMatchObject({ status: 'denied', approvalExpiresAt: null, decisionReason: null });
  });

  it.skipIf(b.skip)('decide: of concurrent decisions from two processes exactly one wins', async () => {
    const [a, c] = await pair();
    const h = await a.createHold(newHold(), T0);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : c).decide(h.id, i % 3 === 0, `p${i}`, null, HOUR, T0 + 1)));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it.skipIf(b.skip)('consumeApproval: an approval is used once, for its own fingerprint, before it lapses', async () => {
    const [s] = await pair();
    const h = await s.createHold(newHold(), T0);
    expect(await s.consumeApproval('fp-a', 'd1', T0 + 1)).toBeNull(); // pending: nothing to use
    await s.decide(h.id, true, 'alice', null, 1000, T0 + 10);
    expect(await s.consumeApproval('fp-other', 'd1', T0 + 11)).toBeNull();
    expect(await s.consumeApproval('fp-other', 'd1', T0 + 11, h.id)).toBeNull();
    const used = await s.consumeApproval('fp-a', 'd2', T0 + 12);
    expect(used).toMatchObject({ id: h.id, status: 'used', usedAt: T0 + 12, usedByDecision: 'd2' });
    expect(await s.consumeApproval('fp-a', 'd3', T0 + 13)).toBeNull();
    expect(await s.consumeApproval('fp-a', 'd3', T0 + 13, h.id)).toBeNull();
    // a lapsed approval lets nothing through
    const lapsed = await s.createHold(newHold({ fingerprint: 'fp-b' }), T0);
    await s.decide(lapsed.id, true, 'alice', null, 1000, T0 + 10);
    expect(await s.consumeApproval('fp-b', 'd4', T0 + 1010)).toBeNull();
    expect(await s.consumeApproval('fp-b', 'd4', T0 + 1010, lapsed.id)).toBeNull();
  });

  it.skipIf(b.skip)('consumeApproval: the earliest-decided approval first; by id when given', async () => {
    const [s] = await pair();
    const x = await s.createHold(newHold(), T0);
    const y = await s.createHold(newHold(), T0 + 1);
    const z = await s.createHold(newHold(), T0 + 2);
    await s.decide(y.id, true, 'p', null, HOUR, T0 + 10);
    await s.decide(x.id, true, 'p', null, HOUR, T0 + 20);
    await s.decide(z.id, true, 'p', null, HOUR, T0 + 30);
    expect((await s.consumeApproval('fp-a', 'd', T0 + 40, z.id))?.id).toBe(z.id);
    expect((await s.consumeApproval('fp-a', 'd', T0 + 40))?.id).toBe(y.id);
    expect((await s.consumeApproval('fp-a', 'd', T0 + 40))?.id).toBe(x.id);
    expect(await s.consumeApproval('fp-a', 'd', T0 + 40)).toBeNull();
  });

  it.skipIf(b.skip)('consumeApproval: concurrent consumers in two processes — exactly one gets each approval', async () => {
    const [a, c] = await pair();
    const h = await a.createHold(newHold(), T0);
    await a.decide(h.id, true, 'p', null, HOUR, T0 + 1);
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : c).consumeApproval('fp-a', `d${i}`, T0 + 2, i % 4 === 0 ? h.id : undefined)));
    expect(got.filter((g) => g !== null)).toHaveLength(1);
    // two approvals of one call: two uses, no more
    const p = await a.createHold(newHold({ fingerprint: 'fp-c' }), T0);
    const q = await a.createHold(newHold({ fingerprint: 'fp-c' }), T0);
    await a.decide(p.id, true, 'p', null, HOUR, T0 + 1);
    await c.decide(q.id, true, 'p', null, HOUR, T0 + 2);
    const two = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : c).consumeApproval('fp-c', `e${i}`, T0 + 3)));
    expect(two.filter((g) => g !== null).map((g) => g!.id).sort()).toEqual([p.id, q.id].sort());
  });

  it.skipIf(b.skip)('expire: lapsed pending and approved holds, each returned once across processes; decided or used ones stay', async () => {
    const [a, c] = await pair();
    const pending = await a.createHold(newHold(), T0);
    const approved = await a.createHold(newHold({ fingerprint: 'fp-x' }), T0);
    await a.decide(approved.id, true, 'p', null, 100, T0 + 1);
    const denied = await a.createHold(newHold(), T0);
    await a.decide(denied.id, false, 'p', null, 100, T0 + 1);
    const used = await a.createHold(newHold({ fingerprint: 'fp-y' }), T0);
    await a.decide(used.id, true, 'p', null, 100, T0 + 1);
    await a.consumeApproval('fp-y', 'd', T0 + 2);
    const fresh = await a.createHold(newHold({ ttlMs: 10 * HOUR }), T0);
    expect(await a.expire(T0 + 50)).toEqual([]);
    const [r1, r2] = await Promise.all([a.expire(T0 + HOUR), c.expire(T0 + HOUR)]);
    const all = [...r1!, ...r2!];
    expect(all.map((h) => h.id).sort()).toEqual([pending.id, approved.id].sort());
    expect(all.every((h) => h.status === 'expired')).toBe(true);
    expect((await a.getHold(denied.id))?.status).toBe('denied');
    expect((await a.getHold(used.id))?.status).toBe('used');
    expect((await a.getHold(fresh.id))?.status).toBe('pending');
    expect(await c.expire(T0 + HOUR)).toEqual([]);
  });

  it.skipIf(b.skip)('audit: in order with rising seq; filters and paging; nulls, not undefined; an empty list writes nothing', async () => {
    const [s] = await pair();
    await s.audit([]);
    expect(await s.queryAudit({ limit: 10 })).toEqual([]);
    await s.audit([
      { at: T0, event: 'hold', decisionId: 'd1', holdId: 'H-1', agent: 'bot', host: 'h1', operation: 'op', actor: 'bot', reason: 'r', detail: { a: 1 } },
      { at: T0 + 1, event: 'approve', holdId: 'H-1', agent: 'bot', host: 'h1' },
      { at: T0 + 2, event: 'deny', agent: 'other', host: 'h2' },
    ]);
    const all = await s.queryAudit({ limit: 10 });
    expect(all.map((e) => e.event)).toEqual(['deny', 'approve', 'hold']);
    expect(all[0]!.seq!).toBeGreaterThan(all[1]!.seq!);
    expect(all[1]!.seq!).toBeGreaterThan(all[2]!.seq!);
    expect(all[2]).toEqual({ seq: all[2]!.seq, at: T0, event: 'hold', decisionId: 'd1', holdId: 'H-1', agent: 'bot', host: 'h1', operation: 'op', actor: 'bot', reason: 'r', detail: { a: 1 } });
    expect(all[1]).toMatchObject({ decisionId: null, operation: null, actor: null, reason: null, detail: null });
    expect((await s.queryAudit({ hold: 'H-1', limit: 10 })).map((e) => e.event)).toEqual(['approve', 'hold']);
    expect((await s.queryAudit({ agent: 'other', limit: 10 })).map((e) => e.event)).toEqual(['deny']);
    expect((await s.queryAudit({ host: 'h1', agent: 'bot', limit: 10 })).map((e) => e.event)).toEqual(['approve', 'hold']);
    const page1 = await s.queryAudit({ limit: 2 });
    const page2 = await s.queryAudit({ limit: 2, before: page1[1]!.seq! });
    expect([...page1, ...page2].map((e) => e.event)).toEqual(['deny', 'approve', 'hold']);
  });

  it.skipIf(b.skip)('audit: an event written again with the same id (a retry from any process) is kept once', async () => {
    const [a, c] = await pair();
    const e = { at: T0, event: 'forward', decisionId: 'd1', eventId: 'ev-1' };
    await a.audit([e, { at: T0, event: 'allow', eventId: 'ev-2' }]);
    await c.audit([e, { at: T0 + 1, event: 'deny', eventId: 'ev-3' }]);
    await Promise.all([a.audit([{ ...e, eventId: 'ev-4' }]), c.audit([{ ...e, eventId: 'ev-4' }])]);
    expect((await a.queryAudit({ limit: 10 })).map((x) => x.event).sort()).toEqual(['allow', 'deny', 'forward', 'forward']);
  });

  it.skipIf(b.skip)('placeholders: create, find, list newest first, revoke keeps the first time, markUsed keeps the latest; a token clash throws', async () => {
    const [s, other] = await pair();
    const p1 = await s.createPlaceholder({ agent: 'a', credential: 'c', tokenHash: 'h1', environments: ['staging', 'pr-*'], expiresAt: null }, T0);
    const p2 = await s.createPlaceholder({ agent: 'b', credential: 'c', tokenHash: 'h2', environments: [], expiresAt: T0 + HOUR }, T0 + 1);
    expect(p1).toEqual({ id: p1.id, agent: 'a', credential: 'c', tokenHash: 'h1', environments: ['staging', 'pr-*'], createdAt: T0, expiresAt: null, lastUsedAt: null, revokedAt: null });
    expect(p1.id).toMatch(/^tok-[0-9a-f]{8}$/);
    expect(await other.findPlaceholder('h2')).toEqual(p2);
    expect(await other.findPlaceholder('nope')).toBeNull();
    expect((await other.listPlaceholders()).map((p) => p.id)).toEqual([p2.id, p1.id]);
    await expect(s.createPlaceholder({ agent: 'x', credential: 'c', tokenHash: 'h1', environments: [], expiresAt: null }, T0)).rejects.toThrow(/already exists/);
    expect((await s.revokePlaceholder(p1.id, T0 + 5))?.revokedAt).toBe(T0 + 5);
    expect((await other.revokePlaceholder(p1.id, T0 + 9))?.revokedAt).toBe(T0 + 5);
    expect((await other.findPlaceholder('h1'))?.revokedAt).toBe(T0 + 5);
    expect(await s.revokePlaceholder('tok-00000000', T0)).toBeNull();
    await s.markPlaceholderUsed(p2.id, T0 + 20);
    await other.markPlaceholderUsed(p2.id, T0 + 15);
    await s.markPlaceholderUsed('tok-00000000', T0 + 20);
    expect((await other.findPlaceholder('h2'))?.lastUsedAt).toBe(T0 + 20);
  });

  it.skipIf(b.skip)('durable: what was returned survives closing and reopening', async () => {
    const where = await b.fresh();
    const s = await b.open(where);
    const h = await s.createHold(newHold(), T0);
    const approved = await s.decide(h.id, true, 'p', null, HOUR, T0 + 1);
    await s.audit([{ at: T0, event: 'hold', holdId: h.id, eventId: 'e1' }]);
    const p = await s.createPlaceholder({ agent: 'a', credential: 'c', tokenHash: 'hx', environments: [], expiresAt: null }, T0);
    const key = await s.fingerprintKey();
    await s.close();
    const again = await openStore(where);
    expect(await again.getHold(h.id)).toEqual(approved);
    expect((await again.queryAudit({ limit: 5 })).map((e) => e.holdId)).toEqual([h.id]);
    expect(await again.findPlaceholder('hx')).toEqual(p);
    expect((await again.fingerprintKey()).equals(key)).toBe(true);
  });

  it.skipIf(b.skip)('the fingerprint key: 32 bytes, made once, the same for every process on the store, another for another store', async () => {
    const [a, c] = await pair();
    const [k1, k2] = await Promise.all([a.fingerprintKey(), c.fingerprintKey()]);
    expect(k1.length).toBe(32);
    expect(k1.equals(k2)).toBe(true);
    const elsewhere = await openStore(await b.fresh());
    expect((await elsewhere.fingerprintKey()).equals(k1)).toBe(false);
  });

  it.skipIf(b.skip)('health: up once open', async () => {
    const [s] = await pair();
    expect(s.health()).toMatchObject({ kind: b.name, state: 'up', reason: null });
  });

  it.skipIf(b.skip)('watch: a decision or expiry in one process is told to the others (where the store can tell; else the other sees it when it asks)', async () => {
    const [a, c] = await pair();
    const told: string[] = [];
    c.watch((id, status) => told.push(`${id} ${status}`));
    const h = await a.createHold(newHold(), T0);
    const x = await a.createHold(newHold({ ttlMs: 10 }), T0);
    // the LISTEN connection is opened at start; give it its moment (bounded) before deciding
    await new Promise((r) => setTimeout(r, 200));
    await a.decide(h.id, true, 'p', null, HOUR, T0 + 1);
    await a.expire(T0 + 20);
    for (let i = 0; i < 50 && b.notifies && told.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(told.sort()).toEqual(b.notifies ? [`${h.id} approved`, `${x.id} expired`].sort() : []);
    expect((await c.getHold(h.id))?.status).toBe('approved');
    expect((await c.getHold(x.id))?.status).toBe('expired');
  });

  it.skipIf(b.skip)('replicas starting together on a fresh store: every one opens (the migration runs once, under a lock) and they share one key', async () => {
    const where = await b.fresh();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(where)));
    const keys = await Promise.all(stores.map((s) => s.fingerprintKey()));
    for (const k of keys) expect(k.equals(keys[0]!)).toBe(true);
    const h = await stores[0]!.createHold(newHold(), T0);
    for (const s of stores) expect((await s.getHold(h.id))?.id).toBe(h.id);
  });

  it.skipIf(b.skip)('migrations: a fresh store is at this code\'s version; a store from a newer scopegate is refused with the reason', async () => {
    const where = await b.fresh();
    const s = await b.open(where);
    await s.close();
    await b.bumpSchema(where, b.known + 7);
    const err = await b.open(where).then(
      async (x) => {
        await x.close();
        return null;
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(new RegExp(`schema version ${b.known + 7}, newer than this scopegate knows \\(${b.known}\\)`));
  });
});

describe('SQLite: a file from before versioned migrations', () => {
  it('is adopted as is and migrated: its holds kept, user_version set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-store-old-'));
    dirs.push(dir);
    const db = new Database(join(dir, STORE_FILE));
    db.exec(`CREATE TABLE holds (id TEXT PRIMARY KEY, decision_id TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired','used')), created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, agent TEXT NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL, operation TEXT NOT NULL, target TEXT, scope TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL, operations TEXT NOT NULL, fingerprint TEXT NOT NULL, scope_fingerprint TEXT NOT NULL, decided_at INTEGER, decided_by TEXT, decision_reason TEXT, approval_expires_at INTEGER, used_at INTEGER, used_by_decision TEXT);
      CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, event TEXT NOT NULL, decision_id TEXT, hold_id TEXT, agent TEXT, host TEXT, operation TEXT, actor TEXT, reason TEXT, detail TEXT);
      INSERT INTO holds VALUES ('H-old', 'd', 'pending', 1, 9999999999999, 'a', 'h', '/', 'op', NULL, '{}', 'r', 'why', '[]', 'fp', 'sfp', NULL, NULL, NULL, NULL, NULL, NULL);
      INSERT INTO audit (at, event) VALUES (1, 'hold');`);
    db.close();
    const s = new SqliteHoldStore(dir);
    try {
      expect((await s.getHold('H-old'))?.status).toBe('pending');
      await s.audit([{ at: 2, event: 'approve', eventId: 'x' }, { at: 2, event: 'approve', eventId: 'x' }]);
      expect((await s.queryAudit({ limit: 10 })).map((e) => e.event)).toEqual(['approve', 'hold']);
    } finally {
      await s.close();
    }
    const check = new Database(join(dir, STORE_FILE), { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    check.close();
  });
});

describe('store URLs are shown without their password', () => {
  it.each([
    ['postgres://sg:s3cret@db:5432/scopegate', 'postgres://sg:***@db:5432/scopegate'],
    ['postgresql://sg:p%40ss@db/x?sslmode=require', 'postgresql://sg:***@db/x?sslmode=require'],
    ['postgres://sg:p@ss/w@rd@db/x', 'postgres://sg:***@db/x'],
    ['postgres://db/x?user=sg&password=s3cret&sslmode=require', 'postgres://db/x?user=sg&password=***&sslmode=require'],
    ['postgres://sg@db/x', 'postgres://sg@db/x'],
  ])('%s', (url, shown) => {
    expect(redactStoreUrl(url)).toBe(shown);
  });
});
