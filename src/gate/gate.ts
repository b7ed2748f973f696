import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../audit/logger.js';
import { newDecisionId } from '../audit/decision-id.js';
import { errorMessage } from '../errors.js';
import type { Holds } from '../holds/holds.js';
import type { Hold } from '../holds/store-types.js';
import { DEFAULT_BODY_LIMITS, type BodyLimits } from '../inspect/body.js';
import type { InspectionCache } from '../inspect/inspection-cache.js';
import type { Operation } from '../inspect/operation.js';
import { readRequest } from '../inspect/read-request.js';
import type { Policy } from '../policy/policy.js';
import type { AnswerStatusMode, ProviderAdapter, Refusal } from '../providers/types.js';
import { answerPlain, answerRefusal } from '../proxy/answers.js';
import { framingProblem, type ClientLimits } from '../proxy/client-limits.js';
import type { ConnectionContext } from '../proxy/context.js';
import { forward, type ForwardResult } from '../proxy/forward.js';
import { formatAuthority, parseAuthority } from '../net/host.js';
import type { Upstream } from '../proxy/upstream.js';
import type { LiveLookups } from '../scope/live-lookups.js';
import { callIdentity } from './call-identity.js';
import { custodyOf } from './custody.js';
import { asCaller, decideCall } from './decide.js';
import type { Placeholders } from '../custody/placeholders.js';
import type { Alert } from '../holds/notify.js';
import { decisionRefusal, type Decision, type HoldHints } from './decision.js';
import type { Recorder } from './record.js';
import { secretEgress } from './secret-egress.js';

/** What the gate needs from the rest of scopegate: plain dependencies, made once by the app. */
export interface GateDeps {
  upstream: Upstream;
  logger: Logger;
  recorder: Recorder;
  policy: () => Policy;
  providers: ReadonlyMap<string, ProviderAdapter>;
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
  lookups: LiveLookups;
  /** Placeholders in custody (with the policy's credentials): the agent's stand-in tokens. */
  placeholders?: Placeholders;
  /** Tells the webhooks what a person must know at once (a real token seen, a secret on its way out). */
  alert?: (a: Alert) => void;
  /** Every lookup of one request, retries included, ends by then; what is not done is unresolved. */
  lookupTimeoutMs: number;
  /** How far back recent traffic looks (--traffic-window); 0: traffic is not looked up. */
  trafficWindowMs?: number;
  clientLimits: ClientLimits;
  /** Pre-flight requests (checks, scope lookups) one caller may have in flight at once. */
  preflightConcurrency?: number;
}

// the decide stage lives in decide.ts; these names stay importable from here
export { judgeLive, withinCeiling } from './decide.js';

type Outcome = { decision: Decision; result: ForwardResult };

/**
 * One request's path through the gate, top to bottom:
 *   admit (framing, host) → read (body, operations) → decide (live scope, policy)
 *   → [hold] → forward | answer → record.
 * Each stage hands plain data to the next; the stage that settles a request names itself in the
 * decision, which the one recorder turns into the log line, the metrics and the audit entry.
 */
export async function handleRequest(deps: GateDeps, ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, finished?: () => void): Promise<void> {
  const started = performance.now();
  const decisionId = newDecisionId();
  let outcome: Outcome = { decision: { kind: 'error', stage: 'internal', rule: 'internal' }, result: { status: 0, bytesOut: 0 } };
  try {
    outcome = await pass(deps, ctx, req, res, decisionId);
  } catch (err) {
    deps.logger.error({ decisionId, err: { message: errorMessage(err), stack: (err as { stack?: string } | null)?.stack } }, 'request pipeline failed');
    answerPlain(res, 500, decisionId, 'internal error; the request was not forwarded');
    outcome = { decision: { kind: 'error', stage: 'internal', rule: 'internal', reason: errorMessage(err) }, result: { status: 500, bytesOut: 0 } };
  } finally {
    finished?.();
  }
  const { decision, result } = outcome;
  deps.recorder.record({
    decisionId,
    ctx,
    channel: 'http',
    method: req.method ?? '',
    path: req.url ?? '',
    status: result.status,
    bytesIn: Number(req.headers['content-length'] ?? 0) || undefined,
    bytesOut: result.bytesOut,
    durationMs: performance.now() - started,
    decision,
    error: result.error,
  });
}

async function pass(deps: GateDeps, ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, decisionId: string): Promise<Outcome> {
  const hostHeader = formatAuthority(ctx.target, ctx.scheme);
  const target = { origin: `${ctx.scheme}://${hostHeader}`, hostHeader };

  // admit: framing only one reading of which is possible, and a Host that is the connection's own
  // (inside a tunnel the target was fixed by CONNECT or SNI; a Host naming another is refused, not believed)
  const framing = framingProblem(req, deps.clientLimits);
  if (framing) {
    res.setHeader('connection', 'close');
    answerPlain(res, framing.status, decisionId, `${framing.reason}; nothing was forwarded`);
    return { decision: { kind: 'deny', stage: 'admit', rule: 'framing', reason: framing.reason }, result: { status: framing.status, bytesOut: 0 } };
  }
  const mismatch = hostHeaderMismatch(ctx, req);
  if (mismatch) {
    answerPlain(res, 421, decisionId, mismatch);
    return { decision: { kind: 'deny', stage: 'admit', rule: 'host-mismatch', reason: mismatch }, result: { status: 421, bytesOut: 0 } };
  }
  const adapter = ctx.provider ? deps.providers.get(ctx.provider) : undefined;
  if (!adapter) {
    // not guarded: egress already allowed it; stream it through untouched (its body unread),
    // unless its headers or target carry a custody secret
    const leak = secretEgress(deps, ctx, req, decisionId, null);
    if (leak) {
      if (requestHasBody(req)) res.setHeader('connection', 'close'); // the body is still on the wire
      answerPlain(res, 403, decisionId, leak.reason);
      return { decision: leak.decision, result: { status: 403, bytesOut: 0 } };
    }
    const result = await forward(deps.upstream, req, res, target, requestHasBody(req) ? req : null, decisionId);
    return { decision: failed(result) ?? { kind: 'pass', stage: 'egress', rule: 'egress' }, result };
  }

  // custody: a placeholder is the caller and is swapped for the real token; a real token is refused
  let custody;
  try {
    custody = await custodyOf(deps.policy(), adapter, deps.placeholders, req.headers, ctx.agent);
  } catch (err) {
    // a placeholder that cannot be checked is not believed: refused, as the store is down
    return storeFailed(deps, adapter, res, decisionId, 'admit', 'the placeholder could not be checked', err);
  }
  if (custody.kind === 'refuse' || custody.kind === 'report') {
    if (custody.tokenHash) reportRealToken(deps, decisionId, ctx, custody.reason, custody.tokenHash);
    if (custody.kind === 'report') {
      deps.logger.warn({ decisionId, agent: ctx.agent, host: ctx.target.host, tokenHash: custody.tokenHash }, custody.reason);
    } else if (custody.status === 407) {
      res.setHeader('proxy-authenticate', 'Basic realm="scopegate"');
      answerPlain(res, 407, decisionId, custody.reason);
      return { decision: { kind: 'deny', stage: 'admit', rule: custody.rule, reason: custody.reason }, result: { status: 407, bytesOut: 0 } };
    } else {
      const status = answer(deps, adapter, res, { code: 'SCOPEGATE_DENIED', message: `scopegate denied this call: ${custody.reason}`, details: { rule: custody.rule, reason: custody.reason }, decisionId });
      return { decision: { kind: 'deny', stage: 'admit', rule: custody.rule, reason: custody.reason }, result: { status, bytesOut: 0 } };
    }
  }
  const { caller, headers } = asCaller(ctx, custody, req.headers);

  // read: headers, the body whole and within limits, then every operation the upstream would
  // execute; the bytes judged are the bytes forwarded
  const read = await readRequest(adapter, req, { limits: deps.bodyLimits ?? DEFAULT_BODY_LIMITS, timeoutMs: deps.clientLimits.requestTimeoutMs, ...(deps.inspections ? { inspections: deps.inspections } : {}) });
  if (!read.ok) return unjudgeable(deps, adapter, res, decisionId, read.reason, read.status);
  const { raw, operations } = read;
  // a custody secret in anything the agent sent (headers, target, decoded body) never leaves
  const leak = secretEgress(deps, caller, req, decisionId, adapter, read.decoded, custody.kind === 'report');
  if (leak) return { decision: leak.decision, result: { status: answer(deps, adapter, res, { code: 'SCOPEGATE_DENIED', message: `scopegate denied this call: ${leak.reason}`, details: { rule: 'secret-egress', reason: leak.reason }, decisionId }), bytesOut: 0 } };

  // decide: each operation's live scope, the policy's verdict, the strictest wins; a placeholder's
  // ceiling holds over every rule (the same stage a pre-flight check runs, src/preflight/)
  const judgeNow = (): Promise<Decision> => decideCall(deps, adapter, caller, custody, headers, operations);
  const decision = await judgeNow();

  const send = async (d: Decision): Promise<Outcome> => {
    const result = custody.kind === 'swap'
      ? await forward(deps.upstream, req, res, target, raw, decisionId, custody.drop, custody.add)
      : await forward(deps.upstream, req, res, target, raw, decisionId, adapter.strippedHeaders);
    forgetAfterWrite(deps, adapter, operations, headers);
    return { decision: failed(result, d) ?? d, result };
  };
  if (decision.kind === 'allow') {
    // an allowed change must be audited: with the store unreachable it is not let through
    if (deps.holds && changes(decision) && !deps.holds.storeUp()) return storeFailed(deps, adapter, res, decisionId, 'decide', 'an allowed change could not be audited', new Error(deps.holds.store.health().reason ?? 'the store cannot be reached'), decision);
    return send(decision);
  }
  // hold: a person decides, or an approval of this exact call lets it through once
  if (decision.kind === 'hold' && deps.holds) {
    return holdStage(deps, adapter, caller, req, headers, res, decisionId, operations, decision, send, judgeNow);
  }
  return { decision, result: { status: answer(deps, adapter, res, decisionRefusal(decision, decisionId, undefined, deps.holdHints)), bytesOut: 0 } };
}

/**
 * hold: an approved identical call goes through once; otherwise the call is written down as a
 * hold (durably, before its id is shown to anyone) and waits up to --hold-timeout for a person.
 * Approved meanwhile, the scope is resolved again and the call forwarded only if it is unchanged.
 */
async function holdStage(
  deps: GateDeps,
  adapter: ProviderAdapter,
  ctx: ConnectionContext,
  req: IncomingMessage,
  /** The headers as the provider sees them (a placeholder already swapped for its credential). */
  headers: IncomingHttpHeaders,
  res: ServerResponse,
  decisionId: string,
  operations: readonly Operation[],
  decision: Decision,
  send: (d: Decision) => Promise<Outcome>,
  rejudge: () => Promise<Decision>,
): Promise<Outcome> {
  const holds = deps.holds!;
  const identify = (d: Decision) => callIdentity(adapter, ctx.agent, ctx.target.host, req.url ?? '/', headers, operations, (d.judged ?? []).map((j) => j.scope), (d.judged ?? []).map((j) => ({ verdict: j.verdict, operationClass: j.operation.class })));
  const call = identify(decision);
  const fp = holds.fingerprint(call);
  let approved: Hold | null;
  try {
    approved = await holds.consume(fp.call, decisionId);
  } catch (err) {
    return storeFailed(deps, adapter, res, decisionId, 'hold', 'an approval of this call could not be looked up', err, decision);
  }
  if (approved) return send({ ...decision, kind: 'allow', stage: 'hold', reason: `${approved.id} approved by ${approved.decidedBy ?? 'a person'}`, approval: { holdId: approved.id, by: approved.decidedBy } });

  let hold: Hold;
  try {
    ({ hold } = await holds.holdOrJoin(call, decisionId, decision.rule, decision.reason ?? '', { operation: decision.operation!, scope: decision.scope! }));
  } catch (err) {
    // a hold nobody can find again must not exist: the call is refused, not forwarded, not lost silently
    const reason = `the hold could not be recorded (${errorMessage(err).slice(0, 160)}); nothing was forwarded`;
    deps.logger.error({ decisionId, err: { message: errorMessage(err) } }, 'hold store write failed');
    const status = answer(deps, adapter, res, { code: 'SCOPEGATE_UNJUDGEABLE', message: `scopegate could not complete its decision on ${decision.operation?.name ?? 'this call'}: ${reason}`, details: { reason, rule: decision.rule }, decisionId });
    return { decision: { ...decision, kind: 'error', stage: 'hold', rule: 'store', reason }, result: { status, bytesOut: 0 } };
  }
  const gone = new AbortController();
  const onClose = (): void => {
    if (!res.writableEnded) gone.abort();
  };
  req.socket.once('close', onClose);
  const outcome = await holds.waitForDecision(hold.id, deps.holdTimeoutMs, gone.signal);
  req.socket.off('close', onClose);
  const held: Decision = { ...decision, stage: 'hold', holdId: hold.id };
  switch (outcome) {
    case 'approved': {
      // live state over the state at hold time: the approval covers only the scope the person saw
      const again = await rejudge();
      if (again.kind === 'deny') {
        const d: Decision = { ...again, stage: 'hold', holdId: hold.id };
        return { decision: d, result: { status: answer(deps, adapter, res, decisionRefusal(again, decisionId, undefined, deps.holdHints)), bytesOut: 0 } };
      }
      const callNow = identify(again);
      let fresh: Hold;
      try {
        const unchanged = holds.fingerprint(callNow).call === fp.call;
        const used = unchanged ? await holds.consume(fp.call, decisionId, hold.id) : null;
        if (used) return send({ ...decision, kind: 'allow', stage: 'hold', reason: `approved by ${used.decidedBy ?? 'a person'}`, holdId: hold.id, approval: { holdId: hold.id, by: used.decidedBy } });
        const after = unchanged ? await holds.store.getHold(hold.id) : null;
        if (after?.status === 'used') {
          // an identical call that joined this hold used its one approval first: this one stays unsent
          const why = `${hold.id}'s approval already let the identical call ${after.usedByDecision ?? ''} through once; this duplicate was not forwarded`;
          const dup: Decision = { ...decision, kind: 'deny', stage: 'hold', rule: 'single-use', reason: why, holdId: hold.id };
          return { decision: dup, result: { status: answer(deps, adapter, res, decisionRefusal(dup, decisionId, undefined, deps.holdHints)), bytesOut: 0 } };
        }
        fresh = await holds.create(callNow, decisionId, again.rule, `the live scope changed after ${hold.id} was approved; ${again.reason ?? ''}`, { operation: again.operation!, scope: again.scope! });
      } catch (err) {
        return storeFailed(deps, adapter, res, decisionId, 'hold', `the approval of ${hold.id} could not be used`, err, { ...decision, holdId: hold.id });
      }
      const d2: Decision = { ...again, kind: 'hold', stage: 'hold', holdId: fresh.id };
      return { decision: d2, result: { status: answer(deps, adapter, res, decisionRefusal(d2, decisionId, fresh, deps.holdHints)), bytesOut: 0 } };
    }
    case 'denied':
    case 'expired': {
      const h = await holds.store.getHold(hold.id).catch(() => null);
      const why = outcome === 'denied' ? `${hold.id} was denied by ${h?.decidedBy ?? 'a person'}${h?.decisionReason ? `: ${h.decisionReason}` : ''}` : `${hold.id} expired before anyone decided`;
      const denied: Decision = { ...held, kind: 'deny', holdOutcome: outcome, reason: why };
      return { decision: denied, result: { status: answer(deps, adapter, res, decisionRefusal(denied, decisionId, undefined, deps.holdHints)), bytesOut: 0 } };
    }
    case 'gone':
      return { decision: { ...held, reason: `${decision.reason ?? ''}; the client left while ${hold.id} was pending (it stays pending)` }, result: { status: 0, bytesOut: 0 } };
    case 'timeout':
      return { decision: held, result: { status: answer(deps, adapter, res, decisionRefusal(held, decisionId, hold, deps.holdHints)), bytesOut: 0 } };
  }
}

/** A real provider token in an agent's hands: someone should rotate it. Written down at once and sent to the webhooks; never the token. */
export function reportRealToken(deps: Pick<GateDeps, 'holds' | 'alert'>, decisionId: string, ctx: ConnectionContext, reason: string, tokenHash: string): void {
  deps.holds?.audit({ at: Date.now(), event: 'real-credential-seen', decisionId, holdId: null, agent: ctx.agent, host: ctx.target.host, operation: null, actor: ctx.agent, reason, detail: { tokenHash } }, true);
  deps.alert?.({ event: 'real-credential-seen', decisionId, agent: ctx.agent, host: ctx.target.host, reason, detail: { tokenHash } });
}

/** A write that went through may have changed what cached lookups say for its credential. */
export function forgetAfterWrite(deps: Pick<GateDeps, 'lookups'>, adapter: ProviderAdapter, operations: readonly Operation[], headers: IncomingHttpHeaders): void {
  if (!operations.some((o) => o.effect === 'write')) return;
  const cred = adapter.credential(headers);
  if (cred) deps.lookups.invalidate(cred);
}

/** An upstream that failed before answering turns the decision into an error (an approval stays used, not shown as the rule). */
function failed(result: ForwardResult, base?: Decision): Decision | null {
  if (!result.error || result.status < 500) return null;
  const { approval, ...rest }: Partial<Decision> = base ?? {};
  const holdId = rest.holdId ?? approval?.holdId;
  return { ...rest, ...(holdId ? { holdId } : {}), kind: 'error', stage: 'forward', rule: 'upstream', reason: result.error };
}

/** Whether a decision lets something other than plain reads through (the recorder audits exactly those). */
function changes(d: Decision): boolean {
  return !(d.judged ?? []).every((j) => j.operation.class === 'read' || j.operation.class === 'benign');
}

/**
 * The store could not be used for a step that needs it: the call is refused as unjudgeable, with
 * the reason, and nothing is forwarded (interface.md, "Several replicas": fail closed).
 */
function storeFailed(deps: GateDeps, adapter: ProviderAdapter, res: ServerResponse, decisionId: string, stage: Decision['stage'], what: string, err: unknown, base?: Decision): Outcome {
  const reason = `${what}: the hold store is unavailable (${errorMessage(err).slice(0, 160)}); nothing was forwarded, try again shortly`;
  deps.logger.error({ decisionId, stage, err: { message: errorMessage(err) } }, 'hold store unavailable');
  const status = answer(deps, adapter, res, { code: 'SCOPEGATE_UNJUDGEABLE', message: `scopegate could not complete its decision on ${base?.operation?.name ?? 'this call'}: ${reason}`, details: { reason, rule: 'store' }, decisionId });
  return { decision: { ...(base ?? {}), kind: 'error', stage, rule: 'store', reason }, result: { status, bytesOut: 0 } };
}

/** The agent's answer to a refusal, in the provider's error shape; the status written. */
function answer(deps: GateDeps, adapter: ProviderAdapter, res: ServerResponse, refusal: Refusal): number {
  return answerRefusal(res, adapter.answer(refusal, deps.answerStatus), refusal.decisionId);
}

function unjudgeable(deps: GateDeps, adapter: ProviderAdapter, res: ServerResponse, decisionId: string, reason: string, httpStatus: number): Outcome {
  let status: number;
  if (httpStatus === 413 || httpStatus === 408) {
    // the rest of the body is still on the wire: answer, then close rather than read it
    res.setHeader('connection', 'close');
    answerPlain(res, httpStatus, decisionId, `${reason}; nothing was forwarded`);
    status = httpStatus;
  } else {
    status = answer(deps, adapter, res, { code: 'SCOPEGATE_UNJUDGEABLE', message: `scopegate could not judge this request, so it was not forwarded: ${reason}`, details: { reason }, decisionId });
  }
  return { decision: { kind: 'deny', stage: 'read', rule: 'unjudgeable', reason }, result: { status, bytesOut: 0 } };
}

function requestHasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function hostHeaderMismatch(ctx: ConnectionContext, req: IncomingMessage): string | null {
  if (ctx.via === 'absolute-form') return null; // the URL named the target; Host is rewritten from it
  // Inside a tunnel the request-target must be origin-form: an absolute URL ("GET http://other/")
  // names a host of its own, which an upstream that honours it would serve instead of this one.
  const url = req.url ?? '';
  if (!url.startsWith('/') && !(url === '*' && req.method === 'OPTIONS')) return `the request-target "${url.slice(0, 100)}" inside a connection to ${formatAuthority(ctx.target, ctx.scheme)} must be a path (origin form)`;
  const host = req.headers.host;
  if (host === undefined) return null;
  try {
    // cleartext inside a CONNECT tunnel: a Host without a port is for the tunnel's own port
    const named = parseAuthority(host, ctx.scheme === 'https' ? 443 : ctx.via === 'connect' ? ctx.target.port : 80);
    if (named.host === ctx.target.host && named.port === ctx.target.port) return null;
  } catch {
    return `the Host header "${host.slice(0, 100)}" is not a valid host`;
  }
  return `the Host header "${host.slice(0, 100)}" does not match the connection's target ${formatAuthority(ctx.target, ctx.scheme)}`;
}
