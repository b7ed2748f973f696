import { createHmac, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../audit/logger.js';
import type { Operation } from '../inspect/operation.js';
import type { Scope } from '../scope/scope.js';
import type { AuditEvent, Hold, HoldOperation, HoldStore, NewHold } from './store-types.js';
import { errorMessage } from '../errors.js';

/** JSON with object keys sorted at every depth: equal values, equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export interface CallIdentity {
  agent: string;
  host: string;
  /** The whole request target, query string included: an approval covers the URL as sent. */
  path: string;
  /**
   * The provider credential the call carries, or null: an approval is for that credential. Only
   * ever HMAC'd into the fingerprint with the store's key (which survives restarts), never kept.
   */
  credential: string | null;
  /** Each operation's essence (the provider adapter's callEssence): what it runs, with which arguments. */
  operations: readonly unknown[];
  /** Each operation's live scope's essence (the adapter's scopeEssence). */
  scopes: readonly unknown[];
  /** The operations as a person sees them on the hold (secret-looking arguments blanked by the adapter). */
  display: HoldOperation[];
}

export type WaitOutcome = 'approved' | 'denied' | 'expired' | 'timeout' | 'gone';

export interface HoldsOptions {
  holdTtlMs: number;
  approvalTtlMs: number;
  logger: Logger;
  /** Told about every new hold; must never block or throw (notifications run on their own). */
  onNewHold?: (h: Hold) => void;
}

/**
 * Holds and approvals over the durable store: creating a hold (written before its id is given
 * out), deciding it, letting an approved call through exactly once, expiring what lapsed, and
 * the audit trail. Waiting calls are woken by an event, with a store poll as a backstop.
 */
export class Holds {
  private readonly events = new EventEmitter();
  private readonly auditQueue: AuditEvent[] = [];
  /** Past this many unwritten events (the store down for long), the oldest are dropped, and said so. */
  static readonly MAX_UNWRITTEN_AUDIT = 20_000;
  /** How often a waiting call asks the store, besides being told (same process, or NOTIFY). */
  static readonly POLL_MS = 500;
  private auditTimer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Calls waiting on each hold in this process, and since when: what "the agent is waiting" means. */
  private readonly waiters = new Map<string, { since: number; calls: number }>();
  /** Holds being made right now, by fingerprint: an identical call arriving meanwhile joins it. */
  private readonly making = new Map<string, Promise<{ hold: Hold; joined: boolean }>>();

  /** `key` is the store's own (store.fingerprintKey()): every process on one store binds approvals alike. */
  constructor(
    readonly store: HoldStore,
    private readonly key: Buffer,
    private readonly options: HoldsOptions,
  ) {
    this.events.setMaxListeners(0);
    // decisions made by other processes on a shared store wake this one's waiting calls at once
    store.watch((id, status) => this.events.emit(id, status));
  }

  /** Whether the store answered when last asked: an allowed change is let through only then (it must be audited). */
  storeUp(): boolean {
    return this.store.health().state === 'up';
  }

  /** What an approval binds: agent, host, path, operations with their exact arguments, live scope. */
  fingerprint(call: CallIdentity): { call: string; scope: string } {
    const scope = createHmac('sha256', this.key).update(canonical(call.scopes)).digest('hex');
    const body = canonical({
      agent: call.agent,
      host: call.host,
      path: call.path,
      credential: call.credential,
      operations: call.operations,
      scope,
    });
    return { call: createHmac('sha256', this.key).update(body).digest('hex'), scope };
  }

  /**
   * Hold the call, or join the hold already pending for the identical call: a client that retries
   * a call waiting for a person must not leave a second hold pending after the first went
   * through. The join is audited (event hold, reason "joined …") and the call waits on that hold.
   */
  async holdOrJoin(call: CallIdentity, decisionId: string, rule: string, reason: string, decisive: { operation: Operation; scope: Scope }): Promise<{ hold: Hold; joined: boolean }> {
    const fp = this.fingerprint(call).call;
    // the same call already being held in this process: wait for that hold rather than ask the store twice
    const inFlight = this.making.get(fp);
    if (inFlight) {
      const first = await inFlight;
      if (first.hold.status === 'pending') return this.joined(call, decisionId, first.hold);
    }
    const making = this.hold(call, decisionId, rule, reason, decisive, true);
    this.making.set(fp, making);
    try {
      const made = await making;
      return made.joined ? this.joined(call, decisionId, made.hold) : made;
    } finally {
      if (this.making.get(fp) === making) this.making.delete(fp);
    }
  }

  private async joined(call: CallIdentity, decisionId: string, hold: Hold): Promise<{ hold: Hold; joined: true }> {
    await this.auditNow({ at: Date.now(), event: 'hold', decisionId, holdId: hold.id, agent: call.agent, host: call.host, operation: hold.operation, actor: call.agent, reason: `joined ${hold.id}: the identical call is already waiting for a person` });
    return { hold, joined: true };
  }

  /** Whether a call in this process is waiting on hold `id`, since when and how many: null when none is. */
  waiting(id: string): { since: number; calls: number } | null {
    return this.waiters.get(id) ?? null;
  }

  /** A new hold for the call, whatever else is pending (a retry after the live scope changed). */
  async create(call: CallIdentity, decisionId: string, rule: string, reason: string, decisive: { operation: Operation; scope: Scope }): Promise<Hold> {
    return (await this.hold(call, decisionId, rule, reason, decisive, false)).hold;
  }

  /** A new hold, or (join) the one already pending for the identical call on any replica. */
  private async hold(call: CallIdentity, decisionId: string, rule: string, reason: string, decisive: { operation: Operation; scope: Scope }, join: boolean): Promise<{ hold: Hold; joined: boolean }> {
    const now = Date.now();
    const fp = this.fingerprint(call);
    const op = decisive.operation;
    const fresh: NewHold = {
      decisionId,
      agent: call.agent,
      host: call.host,
      path: call.path.split('?')[0] ?? '/',
      operation: op.name,
      target: op.target ? { type: op.target.type, id: op.target.id } : null,
      scope: decisive.scope as unknown as Record<string, unknown>,
      rule,
      reason,
      operations: call.display,
      fingerprint: fp.call,
      scopeFingerprint: fp.scope,
      ttlMs: this.options.holdTtlMs,
    };
    const made = join ? await this.store.createOrJoinHold(fresh, now) : { hold: await this.store.createHold(fresh, now), joined: false };
    if (made.joined) return made;
    const hold = made.hold;
    await this.auditNow({ at: now, event: 'hold', decisionId, holdId: hold.id, agent: call.agent, host: call.host, operation: op.name, actor: call.agent, reason: `${rule}: ${reason}` });
    try {
      this.options.onNewHold?.(hold);
    } catch (err) {
      this.options.logger.warn({ holdId: hold.id, err: { message: errorMessage(err) } }, 'hold notification could not be queued');
    }
    return { hold, joined: false };
  }

  /** pending → approved | denied, durably, before anyone is told. null: not pending any more. */
  async decide(id: string, approve: boolean, actor: string, reason: string | null): Promise<Hold | null> {
    const now = Date.now();
    const h = await this.store.decide(id, approve, actor, reason, this.options.approvalTtlMs, now);
    if (!h) return null;
    await this.auditNow({ at: now, event: approve ? 'approve' : 'reject', decisionId: h.decisionId, holdId: h.id, agent: h.agent, host: h.host, operation: h.operation, actor, reason });
    this.events.emit(id, h.status);
    return h;
  }

  /** Let the identical call through once: the approval is consumed in the same transaction. */
  async consume(fingerprint: string, decisionId: string, holdId?: string): Promise<Hold | null> {
    const h = await this.store.consumeApproval(fingerprint, decisionId, Date.now(), holdId);
    if (h) await this.auditNow({ at: Date.now(), event: 'use', decisionId, holdId: h.id, agent: h.agent, host: h.host, operation: h.operation, actor: h.agent, reason: `approved by ${h.decidedBy ?? 'a person'}` });
    return h;
  }

  /** Wait for a person's decision on `id`, up to `ms`; a client that leaves ends the wait, not the hold. */
  waitForDecision(id: string, ms: number, gone: AbortSignal): Promise<WaitOutcome> {
    const w = this.waiters.get(id) ?? { since: Date.now(), calls: 0 };
    w.calls += 1;
    this.waiters.set(id, w);
    return new Promise((resolve) => {
      let settled = false;
      const finish = (o: WaitOutcome): void => {
        if (settled) return;
        settled = true;
        w.calls -= 1;
        if (w.calls === 0 && this.waiters.get(id) === w) this.waiters.delete(id);
        clearTimeout(timer);
        clearInterval(poll);
        this.events.off(id, onEvent);
        gone.removeEventListener('abort', onGone);
        resolve(o);
      };
      const fromStatus = (s: string): WaitOutcome | null => (s === 'approved' ? 'approved' : s === 'denied' ? 'denied' : s === 'expired' ? 'expired' : null);
      const onEvent = (status: string): void => {
        const o = fromStatus(status);
        if (o) finish(o);
      };
      const onGone = (): void => finish('gone');
      const timer = setTimeout(() => finish('timeout'), ms);
      // a decision made by another process sharing the store is seen within a second
      const poll = setInterval(() => {
        this.store.getHold(id).then(
          (h) => {
            const o = h ? fromStatus(h.status) : 'expired';
            if (o) finish(o);
          },
          // the store unreachable: keep waiting (the timeout still ends the wait); the next poll may see it
          () => undefined,
        );
      }, Holds.POLL_MS);
      this.events.on(id, onEvent);
      gone.addEventListener('abort', onGone, { once: true });
      if (gone.aborted) finish('gone');
    });
  }

  /** Audit events of allowed calls are batched (one transaction every 200 ms); hold events are written at once. */
  audit(e: AuditEvent, urgent = false): void {
    this.auditQueue.push({ ...e, eventId: e.eventId ?? randomUUID() });
    if (urgent || this.auditQueue.length >= 500) void this.flushAudit();
    else this.auditTimer ??= setTimeout(() => void this.flushAudit(), 200);
  }

  private auditNow(e: AuditEvent): Promise<void> {
    this.audit(e);
    return this.flushAudit();
  }

  /** Write every queued audit event; resolves once they are in the store (or the failure is logged). */
  async flushAudit(): Promise<void> {
    clearTimeout(this.auditTimer);
    this.auditTimer = undefined;
    const batch = this.auditQueue.splice(0);
    if (batch.length === 0) return;
    try {
      await this.store.audit(batch);
    } catch (err) {
      // kept and written again (each event has its id: one that did reach the store is not doubled)
      this.auditQueue.unshift(...batch);
      const over = this.auditQueue.length - Holds.MAX_UNWRITTEN_AUDIT;
      if (over > 0) this.auditQueue.splice(0, over);
      this.options.logger.error({ events: batch.length, unwritten: this.auditQueue.length, ...(over > 0 ? { dropped: over } : {}), err: { message: errorMessage(err) } }, 'audit events could not be written to the store; retrying');
      this.auditTimer ??= setTimeout(() => void this.flushAudit(), 1000);
    }
  }

  /** Expire what lapsed now and every `everyMs` after. */
  startSweeper(everyMs = 15_000): void {
    const sweep = async (): Promise<void> => {
      try {
        for (const h of await this.store.expire(Date.now())) {
          await this.auditNow({ at: Date.now(), event: 'expire', decisionId: h.decisionId, holdId: h.id, agent: h.agent, host: h.host, operation: h.operation, actor: 'scopegate', reason: h.decidedAt ? 'the approval lapsed unused' : 'nobody decided in time' });
          this.events.emit(h.id, 'expired');
        }
      } catch (err) {
        this.options.logger.error({ err: { message: errorMessage(err) } }, 'expiring holds failed');
      }
    };
    void sweep();
    this.sweeper = setInterval(() => void sweep(), everyMs);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.flushAudit();
    // what could not be written now (the store down) is in the log line flushAudit wrote
    clearTimeout(this.auditTimer);
    await this.store.close();
  }
}

