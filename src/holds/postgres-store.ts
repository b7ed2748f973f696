import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { errorMessage, StoreError } from '../errors.js';
import { newerSchemaMessage, newHoldId, newPlaceholderId, type AuditEvent, type AuditQuery, type Hold, type HoldStatus, type HoldStore, type NewHold, type NewPlaceholder, type PlaceholderRecord, type StoreHealth } from './store-types.js';
import { rowToAuditEvent, rowToHold, rowToPlaceholder, type Row } from './store-rows.js';

/**
 * The hold store in PostgreSQL, shared by replicas: every state change is one statement (atomic,
 * conditional on the row's status, so two replicas racing get one winner) committed before the
 * method returns; decisions are announced with NOTIFY so a call waiting on another replica is
 * released at once. Every operation is bounded (OP_TIMEOUT_MS): a store that does not answer in
 * time is "down": from then on operations are refused at once (so no call waits out the timeout
 * twice) until a background ping finds the store answering again.
 */

/** "Cannot be reached" includes a store that does not answer within this (interface.md, "Several replicas"). */
export const OP_TIMEOUT_MS = 2_000;
/** While down, how often the store is asked again; recovery is seen within this plus one answer. */
const PING_DOWN_MS = 1_000;
/** While up and idle, how often it is asked anyway, so a silent outage shows in /healthz. */
const PING_UP_MS = 5_000;
const CHANNEL = 'scopegate_holds';
/** Taken while migrating, so replicas starting together migrate once. */
const MIGRATION_LOCK = 0x5c09e9a7;
/** The first key of the two-key advisory locks createOrJoinHold takes per fingerprint (its own key space). */
const FINGERPRINT_LOCKS = 0x5c09e9a8;

/** Versioned migrations; scopegate_schema holds one row per version applied. */
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE scopegate_holds (
  id TEXT PRIMARY KEY,
  decision_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending','approved','denied','expired','used')),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
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
  decided_at BIGINT,
  decided_by TEXT,
  decision_reason TEXT,
  approval_expires_at BIGINT,
  used_at BIGINT,
  used_by_decision TEXT
);
CREATE INDEX scopegate_holds_by_status ON scopegate_holds (status, created_at);
CREATE INDEX scopegate_holds_by_fingerprint ON scopegate_holds (fingerprint, status);
CREATE TABLE scopegate_audit (
  seq BIGSERIAL PRIMARY KEY,
  event_id TEXT UNIQUE,
  at BIGINT NOT NULL,
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
CREATE INDEX scopegate_audit_by_hold ON scopegate_audit (hold_id, seq);
CREATE INDEX scopegate_audit_by_agent ON scopegate_audit (agent, seq);
CREATE INDEX scopegate_audit_by_host ON scopegate_audit (host, seq);
CREATE TABLE scopegate_placeholders (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  credential TEXT NOT NULL,
  token_hash TEXT NOT NULL CONSTRAINT scopegate_placeholders_token_hash UNIQUE,
  environments TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  last_used_at BIGINT,
  revoked_at BIGINT
);
CREATE TABLE scopegate_meta (
  name TEXT PRIMARY KEY,
  value BYTEA NOT NULL
);
`,
];

/** The schema version this code writes and reads. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;


/** Errors that say the store could not be reached or stopped answering, rather than refusing a statement. */
function isOutage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true; // socket errors, timeouts, "Connection terminated"
  if (/^(ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_|EHOSTUNREACH|ENETUNREACH)/.test(code)) return true;
  // 08: connection exceptions; 57P01-57P03: shutdown / cannot connect now; 53300: too many connections
  return code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300';
}

export interface PostgresStoreOptions {
  /** What is shown for the store in messages (the URL with its password redacted). */
  shown: string;
  /** Pool size per process. */
  maxConnections?: number;
  /** Told of every change of state (up ↔ down), for the log. */
  onHealth?: (h: StoreHealth) => void;
}

export class PostgresHoldStore implements HoldStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private state: StoreHealth = { kind: 'postgres', state: 'up', since: Date.now(), reason: null };
  private listener: pg.Client | null = null;
  private readonly watchers: ((holdId: string, status: HoldStatus) => void)[] = [];
  private pinger: NodeJS.Timeout | undefined;
  private closed = false;
  private key: Buffer | undefined;

  private constructor(
    private readonly url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    this.pool = new pg.Pool({ ...this.clientConfig(), max: options.maxConnections ?? 10, idleTimeoutMillis: 30_000 });
    // an idle client whose server went away: noted, never thrown (an unhandled 'error' would end the process)
    this.pool.on('error', (err) => this.down(err));
  }

  /**
   * Connect, migrate (under an advisory lock, so replicas starting together migrate once) and start
   * listening for decisions. Throws StoreError with the reason: start exits with it.
   */
  static async open(url: string, options: PostgresStoreOptions): Promise<PostgresHoldStore> {
    const store = new PostgresHoldStore(url, options);
    try {
      await store.migrate();
    } catch (err) {
      await store.pool.end().catch(() => undefined);
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot open the store ${options.shown}: ${errorMessage(err)}; check that the server is up, the database exists and the user may create tables in it`);
    }
    store.listen();
    store.schedulePing();
    return store;
  }

  private clientConfig(): pg.ClientConfig {
    return {
      connectionString: this.url,
      connectionTimeoutMillis: OP_TIMEOUT_MS,
      query_timeout: OP_TIMEOUT_MS,
      // the server gives up too, so a statement the client abandoned does not linger holding locks
      statement_timeout: OP_TIMEOUT_MS,
      idle_in_transaction_session_timeout: 10_000,
      keepAlive: true,
      application_name: 'scopegate',
      // times are BIGINT milliseconds: read them as numbers (exact below 2^53), not strings
      types: { getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
    };
  }

  private async migrate(): Promise<void> {
    const client = new pg.Client(this.clientConfig());
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS scopegate_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const found = Number((await client.query('SELECT COALESCE(MAX(version), 0) AS v FROM scopegate_schema')).rows[0]?.['v'] ?? 0);
      if (found > POSTGRES_SCHEMA_VERSION) throw new StoreError(newerSchemaMessage(this.options.shown, found, POSTGRES_SCHEMA_VERSION));
      for (let v = found; v < POSTGRES_SCHEMA_VERSION; v++) {
        await client.query(MIGRATIONS[v]!);
        await client.query('INSERT INTO scopegate_schema (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** One statement through the pool, bounded in time; an outage marks the store down, any answer marks it up. */
  private async q(text: string, values: unknown[] = [], probe = false): Promise<Row[]> {
    return this.bounded(async () => (await this.pool.query(text, values)).rows as Row[], probe);
  }

  /**
   * Statements in one transaction on one pooled connection, bounded in time as a whole like q();
   * rolled back on any error. What the deadline abandons still ends: statement_timeout and
   * idle_in_transaction_session_timeout end it on the server, and the connection returns then.
   */
  private async tx<T>(work: (query: (text: string, values?: unknown[]) => Promise<Row[]>) => Promise<T>): Promise<T> {
    return this.bounded(async () => {
      const client = await this.pool.connect();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const result = await work(async (text, values = []) => (await client.query(text, values)).rows as Row[]);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
        throw err;
      } finally {
        // a connection whose rollback failed is not given to the next caller
        client.release(broken instanceof Error ? broken : undefined);
      }
    }, false);
  }

  private async bounded<T>(work: () => Promise<T>, probe: boolean): Promise<T> {
    if (this.closed) throw new StoreError('the store is closed');
    // known down: refuse at once rather than make every call wait out the timeout again; the
    // ping (a probe) is what finds it back, within PING_DOWN_MS
    if (this.state.state === 'down' && !probe) throw new StoreError(`the store ${this.options.shown} cannot be reached (${this.state.reason ?? 'down'})`);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreError(`the store ${this.options.shown} did not answer within ${OP_TIMEOUT_MS / 1000} s`)), OP_TIMEOUT_MS + 250);
    });
    try {
      const result = await Promise.race([work(), deadline]);
      this.up();
      return result;
    } catch (err) {
      if (err instanceof StoreError || isOutage(err)) {
        this.down(err);
        throw err instanceof StoreError ? err : new StoreError(`the store ${this.options.shown} cannot be reached: ${errorMessage(err)}`);
      }
      this.up();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private up(): void {
    if (this.state.state === 'up') return;
    this.state = { kind: 'postgres', state: 'up', since: Date.now(), reason: null };
    this.options.onHealth?.(this.state);
    this.schedulePing();
    if (!this.listener) this.listen();
  }

  private down(err: unknown): void {
    if (this.closed) return;
    const reason = errorMessage(err).slice(0, 200);
    if (this.state.state === 'down') return;
    this.state = { kind: 'postgres', state: 'down', since: Date.now(), reason };
    this.options.onHealth?.(this.state);
    this.schedulePing();
  }

  private schedulePing(): void {
    clearTimeout(this.pinger);
    if (this.closed) return;
    this.pinger = setTimeout(() => {
      this.q('SELECT 1', [], true).then(
        () => this.schedulePing(),
        () => this.schedulePing(),
      );
    }, this.state.state === 'down' ? PING_DOWN_MS : PING_UP_MS);
    this.pinger.unref();
  }

  /** A connection of its own for LISTEN (a pooled one would be handed to others); reconnected by the ping after an outage. */
  private listen(): void {
    if (this.closed || this.listener) return;
    const client = new pg.Client(this.clientConfig());
    this.listener = client;
    const drop = (err: unknown): void => {
      if (this.listener !== client) return;
      this.listener = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      this.down(err);
    };
    client.on('error', drop);
    client.on('end', () => drop(new Error('the LISTEN connection closed')));
    client.on('notification', (n) => {
      const [id, status] = (n.payload ?? '').split(' ');
      if (!id || !status) return;
      for (const w of this.watchers) w(id, status as HoldStatus);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANNEL}`))
      .catch(drop);
  }

  watch(listener: (holdId: string, status: HoldStatus) => void): void {
    this.watchers.push(listener);
  }

  health(): StoreHealth {
    return { ...this.state };
  }

  async fingerprintKey(): Promise<Buffer> {
    if (this.key) return this.key;
    // made once by whichever replica comes first; every other one reads that one
    await this.q(`INSERT INTO scopegate_meta (name, value) VALUES ('fingerprint-key', $1) ON CONFLICT (name) DO NOTHING`, [randomBytes(32)]);
    const rows = await this.q(`SELECT value FROM scopegate_meta WHERE name = 'fingerprint-key'`);
    const value = rows[0]?.['value'];
    if (!Buffer.isBuffer(value) || value.length !== 32) throw new StoreError(`the store ${this.options.shown} has a fingerprint key that is not 32 bytes; it was changed by hand`);
    this.key = value;
    return value;
  }

  async createHold(h: NewHold, now: number): Promise<Hold> {
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const rows = await this.q(
          `INSERT INTO scopegate_holds (id, decision_id, status, created_at, expires_at, agent, host, path, operation, target, scope, rule, reason, operations, fingerprint, scope_fingerprint)
           VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
          [newHoldId(now), h.decisionId, now, now + h.ttlMs, h.agent, h.host, h.path, h.operation, h.target ? JSON.stringify(h.target) : null, JSON.stringify(h.scope), h.rule, h.reason, JSON.stringify(h.operations), h.fingerprint, h.scopeFingerprint],
        );
        return rowToHold(rows[0]!);
      } catch (err) {
        // 80 random bits make a clash all but impossible; should one happen, the id is minted again, never reused
        if ((err as { code?: string }).code === '23505') continue;
        throw err;
      }
    }
    throw new StoreError('cannot find a free hold id (4 clashes in a row)');
  }

  async getHold(id: string): Promise<Hold | null> {
    const rows = await this.q('SELECT * FROM scopegate_holds WHERE id = $1', [id]);
    return rows[0] ? rowToHold(rows[0]) : null;
  }

  async createOrJoinHold(h: NewHold, now: number): Promise<{ hold: Hold; joined: boolean }> {
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        return await this.tx(async (query) => {
          // one fingerprint at a time across every replica: the second of two identical calls
          // waits here for the first's commit, then finds its hold in a fresh snapshot
          await query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [FINGERPRINT_LOCKS, h.fingerprint]);
          const found = await query(`SELECT * FROM scopegate_holds WHERE fingerprint = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at, id LIMIT 1`, [h.fingerprint, now]);
          if (found[0]) return { hold: rowToHold(found[0]), joined: true };
          const rows = await query(
            `INSERT INTO scopegate_holds (id, decision_id, status, created_at, expires_at, agent, host, path, operation, target, scope, rule, reason, operations, fingerprint, scope_fingerprint)
             VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *`,
            [newHoldId(now), h.decisionId, now, now + h.ttlMs, h.agent, h.host, h.path, h.operation, h.target ? JSON.stringify(h.target) : null, JSON.stringify(h.scope), h.rule, h.reason, JSON.stringify(h.operations), h.fingerprint, h.scopeFingerprint],
          );
          return { hold: rowToHold(rows[0]!), joined: false };
        });
      } catch (err) {
        // an id clash (80 random bits: all but impossible): mint again, never reuse
        if ((err as { code?: string }).code === '23505') continue;
        throw err;
      }
    }
    throw new StoreError('cannot find a free hold id (4 clashes in a row)');
  }

  async listHolds(status: HoldStatus | undefined, limit: number): Promise<Hold[]> {
    const rows = status
      ? await this.q('SELECT * FROM scopegate_holds WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2', [status, limit])
      : await this.q('SELECT * FROM scopegate_holds ORDER BY created_at DESC, id DESC LIMIT $1', [limit]);
    return rows.map(rowToHold);
  }

  async decide(id: string, approve: boolean, actor: string, reason: string | null, approvalTtlMs: number, now: number): Promise<Hold | null> {
    // one statement: the conditional update and its announcement commit together
    const rows = await this.q(
      `WITH d AS (
         UPDATE scopegate_holds SET status = $2, decided_at = $3, decided_by = $4, decision_reason = $5, approval_expires_at = $6
         WHERE id = $1 AND status = 'pending' AND expires_at > $3 RETURNING *)
       SELECT d.*, pg_notify('${CHANNEL}', d.id || ' ' || d.status) AS notified FROM d`,
      [id, approve ? 'approved' : 'denied', now, actor, reason, approve ? now + approvalTtlMs : null],
    );
    return rows[0] ? rowToHold(rows[0]) : null;
  }

  async consumeApproval(fingerprint: string, decisionId: string, now: number, holdId?: string): Promise<Hold | null> {
    // The row is locked by the UPDATE; a second replica's UPDATE on the same row waits, then
    // re-checks status = 'approved' on the committed row and matches nothing. SKIP LOCKED lets a
    // concurrent consumer of another approval of the same call take that one instead of waiting.
    const rows = holdId
      ? await this.q(
          `UPDATE scopegate_holds SET status = 'used', used_at = $2, used_by_decision = $3
           WHERE id = $4 AND fingerprint = $1 AND status = 'approved' AND approval_expires_at > $2 RETURNING *`,
          [fingerprint, now, decisionId, holdId],
        )
      : await this.q(
          `UPDATE scopegate_holds SET status = 'used', used_at = $2, used_by_decision = $3
           WHERE id = (SELECT id FROM scopegate_holds WHERE fingerprint = $1 AND status = 'approved' AND approval_expires_at > $2
                       ORDER BY decided_at LIMIT 1 FOR UPDATE SKIP LOCKED)
             AND status = 'approved' AND approval_expires_at > $2 RETURNING *`,
          [fingerprint, now, decisionId],
        );
    return rows[0] ? rowToHold(rows[0]) : null;
  }

  async expire(now: number): Promise<Hold[]> {
    const rows = await this.q(
      `WITH x AS (
         UPDATE scopegate_holds SET status = 'expired'
         WHERE (status = 'pending' AND expires_at <= $1) OR (status = 'approved' AND approval_expires_at <= $1) RETURNING *)
       SELECT x.*, pg_notify('${CHANNEL}', x.id || ' expired') AS notified FROM x`,
      [now],
    );
    return rows.map(rowToHold);
  }

  async audit(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const cols = 11;
    const values: unknown[] = [];
    const tuples = events.map((e, i) => {
      values.push(e.eventId ?? null, e.at, e.event, e.decisionId ?? null, e.holdId ?? null, e.agent ?? null, e.host ?? null, e.operation ?? null, e.actor ?? null, e.reason ?? null, e.detail ? JSON.stringify(e.detail) : null);
      return `(${Array.from({ length: cols }, (_, j) => `$${i * cols + j + 1}`).join(', ')})`;
    });
    // one statement: all or none; rows get seq in the order given; a retried event (same id) is kept once
    await this.q(`INSERT INTO scopegate_audit (event_id, at, event, decision_id, hold_id, agent, host, operation, actor, reason, detail) VALUES ${tuples.join(', ')} ON CONFLICT (event_id) DO NOTHING`, values);
  }

  async queryAudit(q: AuditQuery): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown): void => {
      params.push(v);
      where.push(`${sql} $${params.length}`);
    };
    if (q.hold) add('hold_id =', q.hold);
    if (q.agent) add('agent =', q.agent);
    if (q.host) add('host =', q.host);
    if (q.before !== undefined) add('seq <', q.before);
    params.push(q.limit);
    const rows = await this.q(`SELECT * FROM scopegate_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${params.length}`, params);
    return rows.map(rowToAuditEvent);
  }

  async createPlaceholder(p: NewPlaceholder, now: number): Promise<PlaceholderRecord> {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        const rows = await this.q(
          `INSERT INTO scopegate_placeholders (id, agent, credential, token_hash, environments, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [newPlaceholderId(), p.agent, p.credential, p.tokenHash, JSON.stringify(p.environments), now, p.expiresAt],
        );
        return rowToPlaceholder(rows[0]!);
      } catch (err) {
        const e = err as { code?: string; constraint?: string };
        // an id clash: mint another; a token clash is an error
        if (e.code === '23505' && e.constraint === 'scopegate_placeholders_token_hash') throw new StoreError('a placeholder with this token already exists');
        if (e.code === '23505') continue;
        throw err;
      }
    }
    throw new StoreError('cannot find a free placeholder id (8 clashes in a row)');
  }

  async findPlaceholder(tokenHash: string): Promise<PlaceholderRecord | null> {
    const rows = await this.q('SELECT * FROM scopegate_placeholders WHERE token_hash = $1', [tokenHash]);
    return rows[0] ? rowToPlaceholder(rows[0]) : null;
  }

  async listPlaceholders(): Promise<PlaceholderRecord[]> {
    return (await this.q('SELECT * FROM scopegate_placeholders ORDER BY created_at DESC, id DESC')).map(rowToPlaceholder);
  }

  async revokePlaceholder(id: string, now: number): Promise<PlaceholderRecord | null> {
    // COALESCE keeps the first revocation's time; one statement, so the answer is the committed row
    const rows = await this.q('UPDATE scopegate_placeholders SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *', [id, now]);
    return rows[0] ? rowToPlaceholder(rows[0]) : null;
  }

  async markPlaceholderUsed(id: string, now: number): Promise<void> {
    await this.q('UPDATE scopegate_placeholders SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)', [id, now]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pinger);
    const l = this.listener;
    this.listener = null;
    await Promise.all([l?.end().catch(() => undefined), this.pool.end().catch(() => undefined)]);
  }
}
