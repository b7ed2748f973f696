import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, StoreError } from '../errors.js';
import { loadFingerprintKey } from './fingerprint-key.js';
import { newerSchemaMessage, newHoldId, newPlaceholderId, type StoreHealth, type NewPlaceholder, type PlaceholderRecord, type AuditEvent, type AuditQuery, type Hold, type HoldStatus, type HoldStore, type NewHold } from './store-types.js';
import { rowToAuditEvent, rowToHold, rowToPlaceholder, type Row } from './store-rows.js';

/**
 * The hold store in SQLite: one file (scopegate.db) in --data-dir, WAL with synchronous FULL, so
 * that every commit is on disk before it returns. Processes sharing the directory share the store.
 */


/**
 * Versioned migrations, applied in order at open under BEGIN IMMEDIATE (so two processes opening
 * one file together apply each once); PRAGMA user_version is the version reached. Version 1 is the
 * schema from before versioning, written with IF NOT EXISTS so that such a file is adopted as is.
 */
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE IF NOT EXISTS holds (
  id TEXT PRIMARY KEY,
  decision_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired','used')),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  agent TEXT NOT NULL,
  host TEXT NOT NULL,
  path TEXT NOT NULL,
  operation TEXT NOT NULL,
  target TEXT,
  scope TEXT NOT NULL,
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  operations TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  scope_fingerprint TEXT NOT NULL,
  decided_at INTEGER,
  decided_by TEXT,
  decision_reason TEXT,
  approval_expires_at INTEGER,
  used_at INTEGER,
  used_by_decision TEXT
);
CREATE INDEX IF NOT EXISTS holds_by_status ON holds (status, created_at);
CREATE INDEX IF NOT EXISTS holds_by_fingerprint ON holds (fingerprint, status);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  decision_id TEXT,
  hold_id TEXT,
  agent TEXT,
  host TEXT,
  operation TEXT,
  actor TEXT,
  reason TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_hold ON audit (hold_id, seq);
CREATE INDEX IF NOT EXISTS audit_by_agent ON audit (agent, seq);
CREATE INDEX IF NOT EXISTS audit_by_host ON audit (host, seq);
CREATE TABLE IF NOT EXISTS placeholders (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  credential TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  environments TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used_at INTEGER,
  revoked_at INTEGER
);
`,
  // 2: audit events carry an id of their own, so a retried write keeps one copy
  `
ALTER TABLE audit ADD COLUMN event_id TEXT;
CREATE UNIQUE INDEX audit_by_event_id ON audit (event_id);
`,
];

/** The schema version this code writes and reads. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;


export const STORE_FILE = 'scopegate.db';

export class SqliteHoldStore implements HoldStore {
  private readonly db: Database.Database;
  private readonly stmts;

  readonly kind = 'sqlite';
  private readonly opened = Date.now();
  private key: Buffer | undefined;

  /** The store in `dataDir`/`file`; its key is `dataDir`/fingerprint.key. */
  constructor(
    private readonly dataDir: string,
    file: string = STORE_FILE,
  ) {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      this.db = new Database(join(dataDir, file));
      // WAL with synchronous FULL: every commit is fsynced before it returns
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
    } catch (err) {
      throw new StoreError(`cannot open the hold store in ${dataDir}: ${errorMessage(err)}; check that --data-dir is writable and not on a full disk`);
    }
    this.migrate(join(dataDir, file));
    const db = this.db;
    this.stmts = {
      insert: db.prepare(`INSERT INTO holds (id, decision_id, status, created_at, expires_at, agent, host, path, operation, target, scope, rule, reason, operations, fingerprint, scope_fingerprint)
        VALUES (@id, @decisionId, 'pending', @createdAt, @expiresAt, @agent, @host, @path, @operation, @target, @scope, @rule, @reason, @operations, @fingerprint, @scopeFingerprint)`),
      get: db.prepare('SELECT * FROM holds WHERE id = ?'),
      listAll: db.prepare('SELECT * FROM holds ORDER BY created_at DESC, id DESC LIMIT ?'),
      listBy: db.prepare('SELECT * FROM holds WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      decide: db.prepare(`UPDATE holds SET status = @status, decided_at = @now, decided_by = @actor, decision_reason = @reason, approval_expires_at = @approvalExpiresAt
        WHERE id = @id AND status = 'pending' AND expires_at > @now`),
      findPending: db.prepare(`SELECT * FROM holds WHERE fingerprint = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at, id LIMIT 1`),
      findApproved: db.prepare(`SELECT * FROM holds WHERE fingerprint = ? AND status = 'approved' AND approval_expires_at > ? ORDER BY decided_at LIMIT 1`),
      use: db.prepare(`UPDATE holds SET status = 'used', used_at = @now, used_by_decision = @decisionId WHERE id = @id AND status = 'approved' AND approval_expires_at > @now`),
      lapsedPending: db.prepare(`SELECT * FROM holds WHERE status = 'pending' AND expires_at <= ?`),
      lapsedApproved: db.prepare(`SELECT * FROM holds WHERE status = 'approved' AND approval_expires_at <= ?`),
      markExpired: db.prepare(`UPDATE holds SET status = 'expired' WHERE id = ? AND status IN ('pending','approved')`),
      audit: db.prepare(`INSERT OR IGNORE INTO audit (at, event, decision_id, hold_id, agent, host, operation, actor, reason, detail, event_id)
        VALUES (@at, @event, @decisionId, @holdId, @agent, @host, @operation, @actor, @reason, @detail, @eventId)`),
      insertPlaceholder: db.prepare(`INSERT INTO placeholders (id, agent, credential, token_hash, environments, created_at, expires_at)
        VALUES (@id, @agent, @credential, @tokenHash, @environments, @createdAt, @expiresAt)`),
      placeholderById: db.prepare('SELECT * FROM placeholders WHERE id = ?'),
      placeholderByHash: db.prepare('SELECT * FROM placeholders WHERE token_hash = ?'),
      listPlaceholders: db.prepare('SELECT * FROM placeholders ORDER BY created_at DESC, id DESC'),
      revokePlaceholder: db.prepare('UPDATE placeholders SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL'),
      usePlaceholder: db.prepare('UPDATE placeholders SET last_used_at = @now WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @now)'),
    };
  }

  async createHold(h: NewHold, now: number): Promise<Hold> {
    return this.insertHold(h, now);
  }

  private insertHold(h: NewHold, now: number): Hold {
    const id = newHoldId(now);
    this.stmts.insert.run({
      id,
      decisionId: h.decisionId,
      createdAt: now,
      expiresAt: now + h.ttlMs,
      agent: h.agent,
      host: h.host,
      path: h.path,
      operation: h.operation,
      target: h.target ? JSON.stringify(h.target) : null,
      scope: JSON.stringify(h.scope),
      rule: h.rule,
      reason: h.reason,
      operations: JSON.stringify(h.operations),
      fingerprint: h.fingerprint,
      scopeFingerprint: h.scopeFingerprint,
    });
    return this.holdById(id)!;
  }

  async createOrJoinHold(h: NewHold, now: number): Promise<{ hold: Hold; joined: boolean }> {
    // BEGIN IMMEDIATE takes the write lock first: two processes on one file cannot both find
    // nothing and both insert
    const run = this.db.transaction((): { hold: Hold; joined: boolean } => {
      const found = this.stmts.findPending.get(h.fingerprint, now) as Row | undefined;
      if (found) return { hold: rowToHold(found), joined: true };
      return { hold: this.insertHold(h, now), joined: false };
    });
    return run.immediate();
  }

  async getHold(id: string): Promise<Hold | null> {
    return this.holdById(id);
  }

  private holdById(id: string): Hold | null {
    const r = this.stmts.get.get(id) as Row | undefined;
    return r ? rowToHold(r) : null;
  }

  async listHolds(status: HoldStatus | undefined, limit: number): Promise<Hold[]> {
    const rows = (status ? this.stmts.listBy.all(status, limit) : this.stmts.listAll.all(limit)) as Row[];
    return rows.map(rowToHold);
  }

  async decide(id: string, approve: boolean, actor: string, reason: string | null, approvalTtlMs: number, now: number): Promise<Hold | null> {
    const changed = this.stmts.decide.run({ id, status: approve ? 'approved' : 'denied', now, actor, reason, approvalExpiresAt: approve ? now + approvalTtlMs : null }).changes;
    return changed === 1 ? this.holdById(id) : null;
  }

  async consumeApproval(fingerprint: string, decisionId: string, now: number, holdId?: string): Promise<Hold | null> {
    return this.db.transaction((): Hold | null => {
      const r = holdId ? (this.stmts.get.get(holdId) as Row | undefined) : (this.stmts.findApproved.get(fingerprint, now) as Row | undefined);
      if (!r) return null;
      const h = rowToHold(r);
      if (h.fingerprint !== fingerprint || h.status !== 'approved') return null;
      const changed = this.stmts.use.run({ id: h.id, now, decisionId }).changes;
      return changed === 1 ? this.holdById(h.id) : null;
    }).immediate();
  }

  async expire(now: number): Promise<Hold[]> {
    return this.db.transaction((): Hold[] => {
      const lapsed = [...(this.stmts.lapsedPending.all(now) as Row[]), ...(this.stmts.lapsedApproved.all(now) as Row[])].map(rowToHold);
      for (const h of lapsed) this.stmts.markExpired.run(h.id);
      return lapsed.map((h) => ({ ...h, status: 'expired' as const }));
    }).immediate();
  }

  async audit(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.db.transaction(() => {
      for (const e of events) {
        this.stmts.audit.run({
          at: e.at,
          event: e.event,
          decisionId: e.decisionId ?? null,
          holdId: e.holdId ?? null,
          agent: e.agent ?? null,
          host: e.host ?? null,
          operation: e.operation ?? null,
          actor: e.actor ?? null,
          reason: e.reason ?? null,
          detail: e.detail ? JSON.stringify(e.detail) : null,
          eventId: e.eventId ?? null,
        });
      }
    })();
  }

  async queryAudit(q: AuditQuery): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.hold) where.push('hold_id = ?') && params.push(q.hold);
    if (q.agent) where.push('agent = ?') && params.push(q.agent);
    if (q.host) where.push('host = ?') && params.push(q.host);
    if (q.before !== undefined) where.push('seq < ?') && params.push(q.before);
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, q.limit) as Row[]).map(rowToAuditEvent);
  }

  async createPlaceholder(p: NewPlaceholder, now: number): Promise<PlaceholderRecord> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const id = newPlaceholderId();
      try {
        this.stmts.insertPlaceholder.run({
          id,
          agent: p.agent,
          credential: p.credential,
          tokenHash: p.tokenHash,
          environments: JSON.stringify(p.environments),
          createdAt: now,
          expiresAt: p.expiresAt,
        });
      } catch (err) {
        // an id clash: mint another; a token clash (or anything else) is an error
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') continue;
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new StoreError('a placeholder with this token already exists');
        throw err;
      }
      return rowToPlaceholder(this.stmts.placeholderById.get(id) as Row);
    }
    throw new StoreError('cannot find a free placeholder id (8 clashes in a row)');
  }

  async findPlaceholder(tokenHash: string): Promise<PlaceholderRecord | null> {
    const r = this.stmts.placeholderByHash.get(tokenHash) as Row | undefined;
    return r ? rowToPlaceholder(r) : null;
  }

  async listPlaceholders(): Promise<PlaceholderRecord[]> {
    return (this.stmts.listPlaceholders.all() as Row[]).map(rowToPlaceholder);
  }

  async revokePlaceholder(id: string, now: number): Promise<PlaceholderRecord | null> {
    this.stmts.revokePlaceholder.run({ id, now });
    const r = this.stmts.placeholderById.get(id) as Row | undefined;
    return r ? rowToPlaceholder(r) : null;
  }

  async markPlaceholderUsed(id: string, now: number): Promise<void> {
    this.stmts.usePlaceholder.run({ id, now });
  }

  async fingerprintKey(): Promise<Buffer> {
    this.key ??= loadFingerprintKey(this.dataDir);
    return this.key;
  }

  health(): StoreHealth {
    // a local file: every failure is the call's own (a full disk throws there), never "unreachable"
    return { kind: 'sqlite', state: 'up', since: this.opened, reason: null };
  }

  watch(): void {
    // one file, no server to tell us: waiting calls poll, which sees other processes' decisions
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Apply the migrations this file lacks, in one IMMEDIATE transaction; refuse a newer file. */
  private migrate(where: string): void {
    const run = this.db.transaction(() => {
      const found = this.db.pragma('user_version', { simple: true }) as number;
      if (found > SQLITE_SCHEMA_VERSION) throw new StoreError(newerSchemaMessage(where, found, SQLITE_SCHEMA_VERSION));
      for (let v = found; v < SQLITE_SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v]!);
      // PRAGMA takes no parameters; the value is this module's constant
      if (found < SQLITE_SCHEMA_VERSION) this.db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
    });
    try {
      run.immediate();
    } catch (err) {
      this.db.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot migrate the hold store ${where}: ${errorMessage(err)}`);
    }
  }
}
