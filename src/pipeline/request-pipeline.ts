import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { GraphQLLookups } from '../scope/graphql-lookup.js';
import { framingProblem, type ClientLimits } from '../proxy/client-limits.js';
import { unresolved, type Scope } from '../scope/scope.js';
import type { Operation } from '../inspect/operation.js';
import type { InspectionCache } from '../inspect/inspection-cache.js';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../audit/logger.js';
import { newDecisionId } from '../audit/decision-id.js';
import { redactPath } from '../audit/redact.js';
import type { Metrics } from '../admin/metrics.js';
import { DEFAULT_BODY_LIMITS, type BodyLimits } from '../inspect/body.js';
import { readRequest } from '../inspect/read-request.js';
import type { PersistedQueries } from '../inspect/persisted-queries.js';
import type { Policy } from '../policy/policy.js';
import type { ProviderAdapter } from '../providers/types.js';
import { answerGraphQL, answerPlain, type AnswerStatusMode } from '../proxy/answers.js';
import type { ConnectionContext } from '../proxy/context.js';
import { forward, type ForwardResult } from '../proxy/forward.js';
import { formatAuthority, parseAuthority } from '../proxy/host.js';
import type { Upstream } from '../proxy/upstream.js';
import { describeScope } from '../scope/scope.js';
import { decisionAnswer, judge, type Decision, type HoldHints, type ScopeSource } from './judge.js';
import { callCredential, type Holds } from '../holds/holds.js';
import type { Hold } from '../holds/store.js';

export type { Decision } from './judge.js';

export interface PipelineDeps {
  upstream: Upstream;
  logger: Logger;
  metrics: Metrics;
  policy: () => Policy;
  providers: ReadonlyMap<string, ProviderAdapter>;
  persisted: PersistedQueries;
  /** Inspections of request bytes seen before (agents repeat the same calls). */
  inspections?: InspectionCache;
  bodyLimits?: BodyLimits;
  answerStatus: AnswerStatusMode;
  /** Holds and approvals; without it a hold is answered as pending with no way to approve it. */
  holds?: Holds;
  /** How long a held call waits for a person before the agent gets "pending". */
  holdTimeoutMs: number;
  /** Where a person approves: shown in the agent's answer. */
  holdHints?: HoldHints;
  /** Live scope lookups (cached briefly, joined in flight). */
  lookups: GraphQLLookups;
  /** Every lookup of one request, retries included, ends by then; what is not done is unresolved. */
  lookupTimeoutMs: number;
  clientLimits: ClientLimits;
  /** Called when a request starts and when it has fully finished, so shutdown can wait for it. */
  inflight: { add(): void; done(): void };
}

function requestHasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/**
 * The request's path through scopegate, top to bottom:
 *   check host → read body → inspect → resolve → decide → forward | answer → record.
 * Each stage hands plain data to the next; the stage that ends a request names itself in the
 * decision's `rule`, which is what the log line, the metric and the agent's answer carry.
 */
export async function handleRequest(deps: PipelineDeps, ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const decisionId = newDecisionId();
  deps.inflight.add();
  let decision: Decision = { decision: 'error', rule: 'internal' };
  let result: ForwardResult = { status: 0, bytesOut: 0 };
  try {
    ({ decision, result } = await judgeAndAct(deps, ctx, req, res, decisionId));
  } catch (err) {
    decision = { decision: 'error', rule: 'internal', reason: (err as Error).message };
    deps.logger.error({ decisionId, err: { message: (err as Error).message, stack: (err as Error).stack } }, 'request pipeline failed');
    answerPlain(res, 500, decisionId, 'internal error; the request was not forwarded');
    result = { status: 500, bytesOut: 0 };
  } finally {
    deps.inflight.done();
  }
  record(deps, ctx, req, decisionId, decision, result, performance.now() - started);
}

async function judgeAndAct(deps: PipelineDeps, ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, decisionId: string): Promise<{ decision: Decision; result: ForwardResult }> {
  const hostHeader = formatAuthority(ctx.target, ctx.scheme);
  const target = { origin: `${ctx.scheme}://${hostHeader}`, hostHeader };

  // check host: inside a tunnel the target was fixed by CONNECT (or SNI); a Host header naming
  // anything else is a request the client meant for another host, and is refused, not believed.
  const framing = framingProblem(req, deps.clientLimits);
  if (framing) {
    res.setHeader('connection', 'close');
    answerPlain(res, framing.status, decisionId, `${framing.reason}; nothing was forwarded`);
    return { decision: { decision: 'deny', rule: 'framing', reason: framing.reason }, result: { status: framing.status, bytesOut: 0 } };
  }
  const mismatch = hostHeaderMismatch(ctx, req);
  if (mismatch) {
    answerPlain(res, 421, decisionId, mismatch);
    return { decision: { decision: 'deny', rule: 'host-mismatch', reason: mismatch }, result: { status: 421, bytesOut: 0 } };
  }

  const adapter = ctx.provider ? deps.providers.get(ctx.provider) : undefined;
  if (!adapter) {
    // not guarded: egress already allowed it; stream it through untouched
    const result = await forward(deps.upstream, req, res, target, requestHasBody(req) ? req : null, decisionId);
    return { decision: failed(result) ?? { decision: 'pass', rule: 'egress' }, result };
  }

  // read: headers, body whole and within limits, then every operation the upstream would execute;
  // the bytes judged are the bytes forwarded
  const read = await readRequest(adapter, req, { limits: deps.bodyLimits ?? DEFAULT_BODY_LIMITS, timeoutMs: deps.clientLimits.requestTimeoutMs, persisted: deps.persisted, ...(deps.inspections ? { inspections: deps.inspections } : {}) });
  if (!read.ok) return unjudgeable(deps, res, decisionId, read.reason, read.status);
  const { raw, operations } = read;

  // resolve + decide
  const policy = deps.policy();
  const decision = await judgeLive(deps, policy, adapter, ctx, req.headers, operations);

  const send = async (d: Decision): Promise<{ decision: Decision; result: ForwardResult }> => {
    const result = await forward(deps.upstream, req, res, target, raw, decisionId, adapter.strippedHeaders);
    forgetAfterMutation(deps, adapter, operations, req.headers);
    return { decision: failed(result, d) ?? d, result };
  };
  if (decision.decision === 'allow') return send(decision);
  if (decision.decision === 'hold' && deps.holds) {
    return holdStage(deps, ctx, req, res, decisionId, operations, decision, send, () => judgeLive(deps, deps.policy(), adapter, ctx, req.headers, operations), callCredential(adapter, req.headers));
  }
  const status = answerDecision(deps, res, decisionId, decision);
  return { decision, result: { status, bytesOut: 0 } };
}

/**
 * hold: an approved identical call goes through once; otherwise the call is written down as a
 * hold (durably, before its id is shown to anyone) and waits up to --hold-timeout for a person.
 * Approved meanwhile, the scope is resolved again and the call forwarded only if it is unchanged.
 */
async function holdStage(
  deps: PipelineDeps,
  ctx: ConnectionContext,
  req: IncomingMessage,
  res: ServerResponse,
  decisionId: string,
  operations: readonly Operation[],
  decision: Decision,
  send: (d: Decision) => Promise<{ decision: Decision; result: ForwardResult }>,
  rejudge: () => Promise<Decision>,
  credential: string | null,
): Promise<{ decision: Decision; result: ForwardResult }> {
  const holds = deps.holds!;
  const call = { agent: ctx.agent, host: ctx.target.host, path: req.url ?? '/', credential, operations, scopes: (decision.judged ?? []).map((j) => j.scope) };
  const fp = holds.fingerprint(call);
  const approved = holds.consume(fp.call, decisionId);
  if (approved) return send({ ...decision, decision: 'allow', rule: `approved-hold:${approved.id}`, reason: `${approved.id} approved by ${approved.decidedBy ?? 'a person'}`, holdId: approved.id });

  let hold: Hold;
  try {
    hold = holds.create(call, decisionId, decision.rule, decision.reason ?? '', { operation: decision.operation!, scope: decision.scope! });
  } catch (err) {
    // a hold nobody can find again must not exist: the call is refused, not forwarded, not lost silently
    const reason = `the hold could not be recorded (${(err as Error).message.slice(0, 160)}); nothing was forwarded`;
    deps.logger.error({ decisionId, err: { message: (err as Error).message } }, 'hold store write failed');
    const status = answerGraphQL(res, deps.answerStatus, 'SCOPEGATE_UNJUDGEABLE', `scopegate could not complete its decision on ${decision.operation?.name ?? 'this call'}: ${reason}`, { reason, rule: decision.rule }, decisionId);
    return { decision: { ...decision, decision: 'error', rule: 'store', reason }, result: { status, bytesOut: 0 } };
  }
  const gone = new AbortController();
  const onClose = (): void => {
    if (!res.writableEnded) gone.abort();
  };
  req.socket.once('close', onClose);
  const outcome = await holds.waitForDecision(hold.id, deps.holdTimeoutMs, gone.signal);
  req.socket.off('close', onClose);
  const held: Decision = { ...decision, holdId: hold.id };
  switch (outcome) {
    case 'approved': {
      // live state over the state at hold time: the approval covers only the scope the person saw
      const again = await rejudge();
      if (again.decision === 'deny') {
        return { decision: { ...again, holdId: hold.id }, result: { status: answerDecision(deps, res, decisionId, again), bytesOut: 0 } };
      }
      const callNow = { ...call, scopes: (again.judged ?? []).map((j) => j.scope) };
      const used = holds.fingerprint(callNow).call === fp.call ? holds.consume(fp.call, decisionId, hold.id) : null;
      if (used) return send({ ...decision, decision: 'allow', rule: `approved-hold:${hold.id}`, reason: `approved by ${used.decidedBy ?? 'a person'}`, holdId: hold.id });
      const fresh = holds.create(callNow, decisionId, again.rule, `the live scope changed after ${hold.id} was approved; ${again.reason ?? ''}`, { operation: again.operation!, scope: again.scope! });
      const d2: Decision = { ...again, decision: 'hold', holdId: fresh.id };
      return { decision: d2, result: { status: answerDecision(deps, res, decisionId, d2, fresh), bytesOut: 0 } };
    }
    case 'denied':
    case 'expired': {
      const h = holds.store.getHold(hold.id);
      const why = outcome === 'denied' ? `${hold.id} was denied by ${h?.decidedBy ?? 'a person'}${h?.decisionReason ? `: ${h.decisionReason}` : ''}` : `${hold.id} expired before anyone decided`;
      const denied: Decision = { ...held, decision: 'deny', rule: `hold-${outcome}`, reason: why };
      return { decision: denied, result: { status: answerDecision(deps, res, decisionId, denied), bytesOut: 0 } };
    }
    case 'gone':
      return { decision: { ...held, reason: `${decision.reason ?? ''}; the client left while ${hold.id} was pending (it stays pending)` }, result: { status: 0, bytesOut: 0 } };
    case 'timeout':
      return { decision: held, result: { status: answerDecision(deps, res, decisionId, held, hold), bytesOut: 0 } };
  }
}

/**
 * Judge a request's operations against the live scope: the provider's lookups, all of the
 * request's lookups under one deadline, made on first use (reads never look anything up and
 * should not pay for a deadline) and cleared when judging ends, so a busy proxy does not keep a
 * timer per judged call alive for the whole lookup timeout.
 */
export async function judgeLive(deps: PipelineDeps, policy: Policy, adapter: ProviderAdapter, ctx: ConnectionContext, headers: IncomingHttpHeaders, operations: readonly Operation[]): Promise<Decision> {
  let deadline: { signal: AbortSignal; expired: Promise<Scope> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const start = (): { signal: AbortSignal; expired: Promise<Scope> } => {
    const ac = new AbortController();
    const expired = new Promise<Scope>((resolve) => {
      timer = setTimeout(() => {
        ac.abort();
        resolve(unresolved(`live lookup did not finish within ${deps.lookupTimeoutMs} ms`));
      }, deps.lookupTimeoutMs);
      timer.unref();
    });
    return { signal: ac.signal, expired };
  };
  const scopeFor: ScopeSource = async (operation) => {
    deadline ??= start();
    try {
      return await Promise.race([adapter.resolve(operation, { host: ctx.target.host, port: ctx.target.port, headers, lookups: deps.lookups, signal: deadline.signal }), deadline.expired]);
    } catch (err) {
      return unresolved(`live lookup failed: ${(err as Error).message}`);
    }
  };
  try {
    return await judge(policy, ctx.agent, operations, scopeFor);
  } finally {
    clearTimeout(timer);
  }
}

/** A mutation that went through may have changed what cached lookups say for its credential. */
export function forgetAfterMutation(deps: PipelineDeps, adapter: ProviderAdapter, operations: readonly Operation[], headers: IncomingHttpHeaders): void {
  if (!operations.some((o) => o.type === 'mutation')) return;
  const cred = adapter.credential(headers);
  if (cred) deps.lookups.invalidate(cred);
}

function failed(result: ForwardResult, base?: Decision): Decision | null {
  if (!result.error || result.status < 500) return null;
  return { ...(base ?? {}), decision: 'error', rule: 'upstream', reason: result.error };
}

function unjudgeable(deps: PipelineDeps, res: ServerResponse, decisionId: string, reason: string, httpStatus: number): { decision: Decision; result: ForwardResult } {
  let status: number;
  if (httpStatus === 413 || httpStatus === 408) {
    // the rest of the body is still on the wire: answer, then close rather than read it
    res.setHeader('connection', 'close');
    answerPlain(res, httpStatus, decisionId, `${reason}; nothing was forwarded`);
    status = httpStatus;
  } else {
    status = answerGraphQL(res, deps.answerStatus, 'SCOPEGATE_UNJUDGEABLE', `scopegate could not judge this request, so it was not forwarded: ${reason}`, { reason }, decisionId);
  }
  return { decision: { decision: 'deny', rule: 'unjudgeable', reason }, result: { status, bytesOut: 0 } };
}

function answerDecision(deps: PipelineDeps, res: ServerResponse, decisionId: string, d: Decision, hold?: Hold): number {
  const { code, message, extensions } = decisionAnswer(d, decisionId, hold, deps.holdHints);
  return answerGraphQL(res, deps.answerStatus, code, message, extensions, decisionId);
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
  // the hold itself was audited when it was made; every other outcome is audited here
  // reads are in the log line; the audit trail keeps every call that changes or could change something
  const plainRead = d.decision === 'allow' && (d.judged ?? []).every((j) => j.operation.class === 'read' || j.operation.class === 'benign');
  if (ctx.provider && deps.holds && !(d.decision === 'hold' && d.holdId) && !plainRead) {
    deps.holds.audit({
      at: Date.now(),
      event: d.rule.startsWith('approved-hold:') ? 'forward' : d.rule === 'unjudgeable' ? 'unjudgeable' : d.decision,
      decisionId,
      holdId: d.holdId ?? null,
      agent: ctx.agent,
      host,
      operation: d.operation?.name ?? `${req.method} ${(req.url ?? '').split('?')[0]}`,
      actor: ctx.agent,
      reason: `${d.rule}${d.reason ? `: ${d.reason}` : ''}`.slice(0, 1000),
      detail: { status: r.status, ...(d.scope && d.scope.status !== 'not-needed' ? { scope: describeScope(d.scope), lookups: d.scope.lookups ?? [] } : {}) },
    }, d.decision !== 'allow' || d.rule.startsWith('approved-hold:'));
  }
  deps.metrics.requests.inc({ host: ctx.provider ? deps.metrics.hostLabel(host) : 'other', method: req.method ?? '', decision: d.decision });
  deps.metrics.requestSeconds.observe({ decision: d.decision }, ms / 1000);
  const op = d.operation;
  const scoped = d.scope && d.scope.status !== 'not-needed' ? d.scope : undefined;
  // Every key, always, in one order (absent ones undefined, which the line leaves out): one shape
  // for every request line keeps the serialiser's code specialised once traffic is mixed.
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
      wouldBe: d.wouldBe || undefined,
      enforced: d.wouldBe ? false : undefined,
      operation: op?.name,
      class: op?.class,
      target: op?.target ? { type: op.target.type, id: op.target.id } : undefined,
      operations: d.judged && d.judged.length > 1 ? d.judged.map((j) => `${j.operation.name}:${j.verdict.action}`) : undefined,
      scope: scoped ? describeScope(scoped) : undefined,
      lookups: scoped ? scoped.lookups : undefined,
      holdId: d.holdId || undefined,
      reason: d.reason || undefined,
      error: r.error && d.decision !== 'error' ? r.error : undefined,
    },
    'request',
  );
}
