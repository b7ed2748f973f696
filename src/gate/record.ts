import type { Logger } from '../audit/logger.js';
import { redactPath } from '../audit/redact.js';
import type { Metrics } from '../admin/metrics.js';
import type { Holds } from '../holds/holds.js';
import { describeScope } from '../scope/scope.js';
import type { ConnectionContext } from '../proxy/context.js';
import type { ConnectionRecord } from '../proxy/gatekeeper.js';
import { ruleText, type Decision } from './decision.js';

/** One finished request or WebSocket message, as the recorder takes it. */
export interface DecisionRecord {
  decisionId: string;
  ctx: ConnectionContext;
  /** `http` for a request, `websocket` for one message on a judged WebSocket. */
  channel: 'http' | 'websocket';
  method: string;
  path: string;
  status: number;
  bytesIn: number | undefined;
  bytesOut: number;
  durationMs: number;
  decision: Decision;
  /** What went wrong on the way, when the decision itself was not an error. */
  error: string | undefined;
}

/**
 * The one writer of decisions: the log line (one key set, one order, for every channel), the
 * metrics, and the audit entry for every call that is not a plain read — HTTP and WebSocket alike.
 */
export class Recorder {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly holds: Holds | undefined,
  ) {}

  record(r: DecisionRecord): void {
    const { ctx, decision: d } = r;
    const host = ctx.target.host;
    const rule = ruleText(d);
    // the hold itself was audited when it was made; every other outcome is audited here
    // reads are in the log line; the audit trail keeps every call that changes or could change something
    const plainRead = d.kind === 'allow' && (d.judged ?? []).every((j) => j.operation.class === 'read' || j.operation.class === 'benign');
    if (ctx.provider && this.holds && !(d.kind === 'hold' && d.holdId) && !plainRead) {
      this.holds.audit(
        {
          at: Date.now(),
          event: d.approval ? 'forward' : d.rule === 'unjudgeable' ? 'unjudgeable' : d.kind,
          decisionId: r.decisionId,
          holdId: d.holdId ?? d.approval?.holdId ?? null,
          agent: ctx.agent,
          host,
          operation: d.operation?.name ?? `${r.method} ${r.path.split('?')[0]}`,
          actor: ctx.agent,
          reason: `${rule}${d.reason ? `: ${d.reason}` : ''}`.slice(0, 1000),
          detail: { status: r.status, channel: r.channel, ...(d.scope && d.scope.status !== 'not-needed' ? { scope: describeScope(d.scope), lookups: d.scope.lookups ?? [] } : {}) },
        },
        d.kind !== 'allow' || d.approval !== undefined,
      );
    }
    this.metrics.requests.inc({ host: ctx.provider ? this.metrics.hostLabel(host) : 'other', method: r.channel === 'websocket' ? 'WS' : r.method, decision: d.kind });
    this.metrics.requestSeconds.observe({ decision: d.kind }, r.durationMs / 1000);
    const op = d.operation;
    const scoped = d.scope && d.scope.status !== 'not-needed' ? d.scope : undefined;
    // Every key, always, in one order (absent ones undefined, which the line leaves out): one shape
    // for every line keeps the serialiser's code specialised once traffic is mixed.
    this.logger.info(
      {
        decisionId: r.decisionId,
        connectionId: ctx.connectionId,
        agent: ctx.agent,
        via: r.channel === 'websocket' ? 'websocket' : ctx.via,
        host,
        port: ctx.target.port,
        provider: ctx.provider,
        method: r.method,
        path: redactPath(r.path),
        status: r.status,
        bytesIn: r.bytesIn || undefined,
        bytesOut: r.bytesOut,
        durationMs: Math.round(r.durationMs * 1000) / 1000,
        decision: d.kind,
        stage: d.stage,
        rule,
        wouldBe: d.wouldBe || undefined,
        enforced: d.wouldBe ? false : undefined,
        operation: op?.name,
        class: op?.class,
        target: op?.target ? { type: op.target.type, id: op.target.id } : undefined,
        operations: d.judged && d.judged.length > 1 ? d.judged.map((j) => `${j.operation.name}:${j.verdict.action}`) : undefined,
        scope: scoped ? describeScope(scoped) : undefined,
        lookups: scoped ? scoped.lookups : undefined,
        holdId: d.holdId || d.approval?.holdId || undefined,
        reason: d.reason || undefined,
        error: r.error && d.kind !== 'error' ? r.error : undefined,
      },
      r.channel === 'websocket' ? 'websocket message' : 'request',
    );
  }

  /** A connection-level decision: a refused connection, or a tunnel when it closes. One key set, one order. */
  connection(r: ConnectionRecord): void {
    if (r.result) this.metrics.tunnels.inc({ result: r.result });
    this.logger.info(
      {
        decisionId: r.decisionId ?? undefined,
        agent: r.agent ?? undefined,
        via: r.via,
        client: r.client ?? undefined,
        host: r.host ?? undefined,
        port: r.port ?? undefined,
        status: r.status ?? undefined,
        decision: r.decision,
        rule: r.rule,
        reason: r.reason,
        bytesUp: r.bytesUp,
        bytesDown: r.bytesDown,
        durationMs: r.durationMs,
        interceptedAs: r.interceptedAs,
        error: r.error,
      },
      r.msg,
    );
  }
}
