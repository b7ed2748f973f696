import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../audit/logger.js';
import { newDecisionId } from '../audit/decision-id.js';
import { redactPath } from '../audit/redact.js';
import type { Metrics } from '../admin/metrics.js';
import { answerPlain } from '../proxy/answers.js';
import type { ConnectionContext } from '../proxy/context.js';
import { forward, type ForwardResult } from '../proxy/forward.js';
import { formatAuthority, parseAuthority } from '../proxy/host.js';
import type { Upstream } from '../proxy/upstream.js';

export type DecisionKind = 'allow' | 'deny' | 'hold' | 'pass' | 'error';

/** The outcome of the decide stage: plain data, logged as-is. */
export interface Decision {
  decision: DecisionKind;
  /** Which stage or rule produced it. */
  rule: string;
  reason?: string;
  status?: number;
}

export interface PipelineDeps {
  upstream: Upstream;
  logger: Logger;
  metrics: Metrics;
  /** Called when a request starts and when it has fully finished, so shutdown can wait for it. */
  inflight: { add(): void; done(): void };
}

function requestHasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/**
 * The request's path through scopegate, top to bottom:
 *   identify → check host → inspect → resolve → decide → forward → record.
 * Each stage hands plain data to the next; the stage that ends a request names itself in the
 * decision's `rule`, which is what the log line, the metric and the agent's answer carry.
 */
export async function handleRequest(deps: PipelineDeps, ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const decisionId = newDecisionId();
  deps.inflight.add();
  let decision: Decision;
  let result: ForwardResult = { status: 0, bytesOut: 0 };
  try {
    // check host: inside a tunnel the target was fixed by CONNECT (or SNI); a Host header naming
    // anything else is a request the client meant for another host, and is refused, not believed.
    const mismatch = hostHeaderMismatch(ctx, req);
    if (mismatch) {
      decision = { decision: 'deny', rule: 'host-mismatch', reason: mismatch, status: 421 };
      answerPlain(res, 421, decisionId, mismatch);
      result = { status: 421, bytesOut: 0 };
    } else {
      // inspect / resolve / decide: every request on a guarded host is forwarded for now;
      // the inspector and policy engine slot in here.
      decision = ctx.provider ? { decision: 'allow', rule: 'forward' } : { decision: 'pass', rule: 'egress' };
      const hostHeader = formatAuthority(ctx.target, ctx.scheme);
      result = await forward(
        deps.upstream,
        req,
        res,
        { origin: `${ctx.scheme}://${hostHeader}`, hostHeader },
        requestHasBody(req) ? req : null,
        decisionId,
      );
      if (result.error && result.status >= 500) decision = { decision: 'error', rule: 'upstream', reason: result.error, status: result.status };
    }
  } catch (err) {
    decision = { decision: 'error', rule: 'internal', reason: (err as Error).message };
    deps.logger.error({ decisionId, err: { message: (err as Error).message, stack: (err as Error).stack } }, 'request pipeline failed');
    answerPlain(res, 500, decisionId, 'internal error; nothing was forwarded after the failure');
    result = { status: 500, bytesOut: 0 };
  } finally {
    deps.inflight.done();
  }
  record(deps, ctx, req, decisionId, decision, result, performance.now() - started);
}

function hostHeaderMismatch(ctx: ConnectionContext, req: IncomingMessage): string | null {
  if (ctx.via === 'absolute-form') return null; // the URL named the target; Host is rewritten from it
  const host = req.headers.host;
  if (host === undefined) return null;
  try {
    const named = parseAuthority(host, ctx.scheme === 'https' ? 443 : 80);
    if (named.host === ctx.target.host && named.port === ctx.target.port) return null;
  } catch {
    return `the Host header "${host.slice(0, 100)}" is not a valid host`;
  }
  return `the Host header "${host.slice(0, 100)}" does not match the connection's target ${formatAuthority(ctx.target, ctx.scheme)}`;
}

/** One line per request: the canonical decision record. */
function record(deps: PipelineDeps, ctx: ConnectionContext, req: IncomingMessage, decisionId: string, d: Decision, r: ForwardResult, ms: number): void {
  const host = ctx.target.host;
  deps.metrics.requests.inc({ host: ctx.provider ? host : 'other', method: req.method ?? '', decision: d.decision });
  deps.metrics.requestSeconds.observe({ decision: d.decision }, ms / 1000);
  deps.logger.info(
    {
      decisionId,
      connectionId: ctx.connectionId,
      agent: ctx.agent,
      via: ctx.via,
      host,
      port: ctx.target.port,
      provider: ctx.provider,
      method: req.method,
      path: redactPath(req.url ?? ''),
      status: r.status,
      bytesIn: Number(req.headers['content-length'] ?? 0) || undefined,
      bytesOut: r.bytesOut,
      durationMs: Math.round(ms * 1000) / 1000,
      decision: d.decision,
      rule: d.rule,
      ...(d.reason ? { reason: d.reason } : {}),
      ...(r.error && d.decision !== 'error' ? { error: r.error } : {}),
    },
    'request',
  );
}
