import { randomBytes } from 'node:crypto';

/**
 * The hold store's data and the interface every implementation of it keeps (HoldStore), apart
 * from any database: SqliteHoldStore in sqlite-store.ts is one implementation.
 */

export type HoldStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

/** One operation of a held call, as the person deciding sees it (arguments as the adapter shows them). */
export interface HoldOperation {
  name: string;
  alias: string | null;
  type: string;
  class: string;
  target: { type: string; id: string | null } | null;
  args: Record<string, unknown>;
  /** This operation's own live scope (plain data), when it needed one. */
  scope?: Record<string, unknown>;
  /** What the policy says of this operation alone: a batch is held or denied by its strictest one. */
  decision?: { action: string; rule: string; reason: string };
}

/** A held call as a person sees it and as an approval binds it. Plain data; times are ms since epoch. */
export interface Hold {
  id: string;
  decisionId: string;
  status: HoldStatus;
  createdAt: number;
  expiresAt: number;
  agent: string;
  host: string;
  path: string;
  operation: string;
  target: { type: string; id: string | null } | null;
  scope: Record<string, unknown>;
  rule: string;
  reason: string;
  /** Every operation of the call, with arguments (secret-looking values blanked for display). */
  operations: HoldOperation[];
  /** What an approval binds: agent, host, path, operations, normalised arguments, live scope. */
  fingerprint: string;
  scopeFingerprint: string;
  decidedAt: number | null;
  decidedBy: string | null;
  decisionReason: string | null;
  /** An approval lets the identical call through until then. */
  approvalExpiresAt: number | null;
  usedAt: number | null;
  usedByDecision: string | null;
}

/** What a new hold is made from: the call's part of a Hold, plus how long it may stay pending. */
export type NewHold = Pick<Hold, 'decisionId' | 'agent' | 'host' | 'path' | 'operation' | 'target' | 'scope' | 'rule' | 'reason' | 'operations' | 'fingerprint' | 'scopeFingerprint'> & {
  ttlMs: number;
};

/** One line of the audit trail: what happened to a call or a hold, when and by whom. */
export interface AuditEvent {
  seq?: number;
  at: number;
  /** allow | deny | hold | approve | reject | expire | forward | use | unjudgeable | error */
  event: string;
  decisionId?: string | null;
  holdId?: string | null;
  agent?: string | null;
  host?: string | null;
  operation?: string | null;
  /** Who acted: an agent for calls, "admin-api", "page" or "cli" for decisions on holds. */
  actor?: string | null;
  reason?: string | null;
  detail?: Record<string, unknown> | null;
  /**
   * Unique per event, given when it is queued: an event written again with the same id (a retry
   * after an answer lost on the way back) is kept once.
   */
  eventId?: string | null;
}

/** Whether the store answers, as last seen: reported in /healthz and the metrics, and asked before an allowed change is let through. */
export interface StoreHealth {
  kind: 'sqlite' | 'postgres';
  state: 'up' | 'down';
  /** Since when (ms since the epoch). */
  since: number;
  /** Why it is down (never a password); null when up. */
  reason: string | null;
}

/**
 * A placeholder token (credential custody): what the agent holds instead of the provider's
 * token. The token itself is never stored, only its keyed hash. Times are ms since the epoch.
 */
export interface PlaceholderRecord {
  /** "tok-" and 8 hex digits: what `token list` shows and `token revoke` takes. */
  id: string;
  agent: string;
  /** The policy's credential (under `credentials:`) the placeholder stands for. */
  credential: string;
  /** HMAC-SHA256 of the token with the store's key, hex (custody/placeholders.ts: hashPlaceholderToken). */
  tokenHash: string;
  /** The environments ceiling as given (names, ids, @primary, globs like pr-*); empty: no ceiling. */
  environments: string[];
  createdAt: number;
  /** null: does not expire. */
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** What a new placeholder is made from; the store gives it its id and createdAt. */
export type NewPlaceholder = Pick<PlaceholderRecord, 'agent' | 'credential' | 'tokenHash' | 'environments' | 'expiresAt'>;

/** Which audit events queryAudit returns. */
export interface AuditQuery {
  hold?: string;
  agent?: string;
  host?: string;
  /** Return events older than this sequence number (paging backwards from the newest). */
  before?: number;
  limit: number;
}

/**
 * The durable store behind holds, approvals and the audit trail, as the rest of scopegate uses it
 * (Holds in holds.ts, the admin API and page). SqliteHoldStore (sqlite-store.ts, a file in
 * --data-dir) for one machine; PostgresHoldStore (postgres-store.ts) shared by several replicas.
 * One test suite (test/unit/hold-store.test.ts) runs against both.
 *
 * Contract for every implementation:
 * - Every write is durable (committed and flushed to stable storage) before the method returns:
 *   what a method has returned survives a crash and a restart.
 * - Reads see every write committed before them, including writes by other processes sharing
 *   the store (a hold decided through another replica's admin API is seen by the one waiting).
 * - State changes of one hold are atomic and conditional on its current status, so that two
 *   callers racing (two people deciding, two replicas consuming one approval) get one winner.
 * - Times are milliseconds since the epoch, given by the caller (`now`); the store never reads a
 *   clock of its own, so every comparison with an expiry uses the caller's `now`.
 * - Every method returns a Promise (a server database answers over the network); callers await
 *   it before acting on the result. An implementation may do its work synchronously (SQLite).
 * - Failures throw (StoreError or the driver's error); callers turn them into refusals, never
 *   into letting a call through.
 */
export interface HoldStore {
  /**
   * Record a new pending hold: a fresh id (newHoldId), createdAt = now, expiresAt = now + ttlMs,
   * nothing decided or used. Durable before it returns: the id is given to the agent and to
   * people only afterwards, so a hold someone was told about always exists. Returns the hold as
   * stored (as getHold would return it).
   */
  createHold(h: NewHold, now: number): Promise<Hold>;
  /** The hold as last committed, or null when there is no hold with this id. */
  getHold(id: string): Promise<Hold | null>;
  /**
   * Hold a call, or join the hold already waiting for the identical call: the earliest-created
   * hold with h.fingerprint that is still pending and whose expiresAt is after `now` (joined: true;
   * it was made for another call, so its decisionId is not h.decisionId), else a new one as
   * createHold makes it. Atomic across every process on the store: of two identical calls
   * arriving at once on two replicas, one makes the hold and the other joins it.
   */
  createOrJoinHold(h: NewHold, now: number): Promise<{ hold: Hold; joined: boolean }>;
  /**
   * Holds, newest first (createdAt descending, then id descending), at most `limit`; only those
   * with `status` when it is given, every status when it is undefined.
   */
  listHolds(status: HoldStatus | undefined, limit: number): Promise<Hold[]>;
  /**
   * pending → approved | denied, atomically and durably, recording decidedAt = now, decidedBy =
   * actor and decisionReason = reason; an approval is valid until now + approvalTtlMs
   * (approvalExpiresAt), a denial has approvalExpiresAt null. Only a hold that is still pending
   * and whose expiresAt is after `now` changes; otherwise (already decided, expired, unknown id)
   * nothing changes and the result is null. Of two concurrent decisions on one hold exactly one
   * succeeds. Returns the hold as decided.
   */
  decide(id: string, approve: boolean, actor: string, reason: string | null, approvalTtlMs: number, now: number): Promise<Hold | null>;
  /**
   * Single use, in one transaction that excludes every other writer (BEGIN IMMEDIATE in SQLite,
   * a row lock in a server database): find the approved hold for this exact call — the hold
   * `holdId` when given, else the earliest-decided approved hold with this fingerprint whose
   * approval has not lapsed at `now` — check that its fingerprint is `fingerprint`, its status is
   * approved and its approvalExpiresAt is after `now`, and mark it used (usedAt = now,
   * usedByDecision = decisionId). At most one caller, in any process, ever gets a given
   * approval; everyone else gets null. Durable before it returns: the call is forwarded only
   * after. Returns the hold as used.
   */
  consumeApproval(fingerprint: string, decisionId: string, now: number, holdId?: string): Promise<Hold | null>;
  /**
   * In one transaction, mark expired every pending hold whose expiresAt is at or before `now`
   * and every approved hold whose approvalExpiresAt is at or before `now`; return those holds
   * (with status 'expired'). Each hold is returned by at most one call, so its expiry is audited
   * once. A hold decided or used concurrently is not expired.
   */
  expire(now: number): Promise<Hold[]>;
  /**
   * Append the events to the audit trail, in order, in one transaction: all or none. Each gets a
   * sequence number (seq) greater than every earlier one. Durable before it returns. An empty
   * list writes nothing. An event whose eventId is already in the trail is not written again.
   */
  audit(events: AuditEvent[]): Promise<void>;
  /**
   * Audit events, newest first (seq descending), at most `q.limit`: only those of hold `q.hold`,
   * agent `q.agent` and host `q.host` when given (all given filters apply), and only those with
   * seq below `q.before` when given (paging backwards). Every returned event carries its seq and
   * has null (not undefined) for fields that were not recorded.
   */
  queryAudit(q: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Record a new placeholder: a fresh id (newPlaceholderId, minted again on the rare clash),
   * createdAt = now, never used nor revoked. Durable before it returns: the token is shown only
   * afterwards. Two placeholders never share a tokenHash (a clash throws). Returns it as stored.
   */
  createPlaceholder(p: NewPlaceholder, now: number): Promise<PlaceholderRecord>;
  /** The placeholder whose token has this keyed hash, or null. Sees revocations made by every process. */
  findPlaceholder(tokenHash: string): Promise<PlaceholderRecord | null>;
  /** Every placeholder, newest first (createdAt descending, then id descending), revoked and expired ones included. */
  listPlaceholders(): Promise<PlaceholderRecord[]>;
  /**
   * Revoke the placeholder `id` (revokedAt = now) unless it already is (then its first revokedAt
   * stays). Durable before it returns. Returns it as stored, or null when there is no such id.
   */
  revokePlaceholder(id: string, now: number): Promise<PlaceholderRecord | null>;
  /** Note a use: lastUsedAt becomes `now` unless it is already later. Unknown ids are ignored. */
  markPlaceholderUsed(id: string, now: number): Promise<void>;
  /**
   * The key that binds approvals to calls and hashes placeholders (HMAC-SHA256, 32 bytes): made
   * once, at the first start, and the same for every process sharing the store (SQLite: the file
   * fingerprint.key beside the database; Postgres: a row in the store, so replicas agree).
   */
  fingerprintKey(): Promise<Buffer>;
  /** The store's state as last seen, without asking it (cheap: read on every allowed change). */
  health(): StoreHealth;
  /**
   * Be told when any process sharing the store decides or expires a hold, soon after it commits
   * (Postgres: LISTEN/NOTIFY). Best effort: a waiting call also polls. SQLite tells nothing here.
   */
  watch(listener: (holdId: string, status: HoldStatus) => void): void;
  /** Release the store (connections, file handles). No method is called after close. */
  close(): Promise<void>;
}

/** Placeholder ids: short enough to type, random (32 bits; a clash is minted again). */
export function newPlaceholderId(): string {
  return `tok-${randomBytes(4).toString('hex')}`;
}

/** Hold ids: time first (they sort), 80 random bits after (never guessed, never reused). Every implementation mints its ids with it. */
export function newHoldId(now: number): string {
  return `H-${now.toString(36)}-${randomBytes(10).toString('base64url')}`;
}

/**
 * A store whose schema is newer than this code knows was written by a newer scopegate: running on
 * it could misread or damage what the newer one wrote, so start stops and says so.
 */
export function newerSchemaMessage(where: string, found: number, known: number): string {
  return `the store ${where} has schema version ${found}, newer than this scopegate knows (${known}): a newer scopegate wrote it. Run that version (every replica on one store must run it), or point --store / --data-dir at another store`;
}
