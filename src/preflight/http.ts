import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { newDecisionId } from '../audit/decision-id.js';
import { errorMessage } from '../errors.js';
import type { GateDeps } from '../gate/gate.js';
import { DEFAULT_BODY_LIMITS, decodeContentEncoding, isBodyProblem, readBody } from '../inspect/body.js';
import { DECISION_HEADER } from '../proxy/answers.js';
import type { ConnectionContext } from '../proxy/context.js';
import { checkCall } from './check.js';
import { holdStatus } from './hold-status.js';
import { CHECK_USAGE, parseCheck, parseScope, SCOPE_USAGE } from './input.js';
import { CallerLimiter } from './limiter.js';
import { OWN_HOST } from './own-host.js';
import { scopeOf } from './scope-of.js';

/**
 * scopegate's own API on the proxy listener: the pre-flight doors. Path-form on the listener
 * (`POST http://127.0.0.1:8080/v1/check`) or through the proxy to scopegate.internal, the caller
 * identified as on every door. Every request gets JSON and one log line (`msg: "check"`); none is
 * forwarded, held or audited.
 */

/** The header a caller names its provider token in when it does not say where the call carries it (scopegate mcp sends SCOPEGATE_TOKEN there). */
export const TOKEN_HEADER = 'x-scopegate-token';

/** Pre-flight requests one caller may have in flight at once (each can cost live lookups). */
export const DEFAULT_PREFLIGHT_CONCURRENCY = 4;

const ROUTES = [
  { method: 'POST', path: '/v1/check', what: `what scopegate would decide for a call, without making it; ${CHECK_USAGE}` },
  { method: 'POST', path: '/v1/scope', what: `the live scope of a target; ${SCOPE_USAGE}` },
  { method: 'GET', path: '/v1/holds/ID', what: 'the status of one of your holds, and what to do next' },
];

const DIRECTORY = {
  service: 'scopegate pre-flight',
  reach: `path-form on the proxy listener, or http://${OWN_HOST}/ (https too) through the proxy`,
  identity: `as your calls: a placeholder or provider token in "headers" (or in the ${TOKEN_HEADER} header), Proxy-Authorization, or anonymous`,
  routes: ROUTES.map((r) => `${r.method} ${r.path}: ${r.what}`),
};

interface Answered {
  status: number;
  body: unknown;
  /** Fields for the log line. */
  log?: Record<string, unknown>;
}

function answerJson(res: ServerResponse, status: number, decisionId: string, body: unknown, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', [DECISION_HEADER]: decisionId, ...extra });
  res.end(text);
}

const problem = (status: number, message: string, log?: Record<string, unknown>): Answered => ({ status, body: { error: message }, ...(log ? { log } : {}) });

/** The callers' key for the concurrency bound: the agent the door identified, and for anonymous callers their address as well. */
function callerKey(ctx: ConnectionContext): string {
  return ctx.agent === 'anonymous' ? `anonymous@${ctx.clientAddress}` : `agent:${ctx.agent}`;
}

export function createOwnApi(deps: GateDeps, perCaller = DEFAULT_PREFLIGHT_CONCURRENCY): (ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, finished: () => void) => void {
  const limiter = new CallerLimiter(perCaller);

  async function readJson(req: IncomingMessage): Promise<Buffer | Answered> {
    const limits = deps.bodyLimits ?? DEFAULT_BODY_LIMITS;
    const raw = await readBody(req, limits, deps.clientLimits.requestTimeoutMs);
    if (isBodyProblem(raw)) return problem(raw.status, raw.reason);
    const decoded = decodeContentEncoding(raw, req.headers['content-encoding'], limits);
    if (isBodyProblem(decoded)) return problem(decoded.status, decoded.reason);
    return decoded;
  }

  /** The caller of a request with no provider headers of its own: a placeholder in X-Scopegate-Token is its agent, as on a real call. */
  async function agentOf(ctx: ConnectionContext, token: string | undefined): Promise<{ agent: string } | Answered> {
    if (!token || !deps.placeholders) return { agent: ctx.agent };
    const v = await deps.placeholders.verify(token, Date.now());
    if (v === null) return { agent: ctx.agent };
    if (v.status !== 'live') return problem(403, `placeholder ${v.placeholder.id} is ${v.status}; ask for a new one (scopegate token create)`);
    if (ctx.agent !== 'anonymous' && ctx.agent !== v.placeholder.agent) return problem(407, `Proxy-Authorization names agent ${ctx.agent}, but the placeholder is agent ${v.placeholder.agent}'s`);
    return { agent: v.placeholder.agent };
  }

  async function route(ctx: ConnectionContext, req: IncomingMessage, decisionId: string): Promise<Answered> {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    const tokenHeader = req.headers[TOKEN_HEADER];
    const token = typeof tokenHeader === 'string' && tokenHeader.trim() !== '' ? tokenHeader.trim() : undefined;
    const known = path === '/' || path === '/v1' || path === '/v1/' || path === '/v1/check' || path === '/v1/scope' || path.startsWith('/v1/holds/');
    if (!known) return problem(404, `scopegate has no ${path.slice(0, 80)} here; it answers ${ROUTES.map((r) => `${r.method} ${r.path}`).join(', ')}`);
    const wanted = path === '/v1/check' || path === '/v1/scope' ? 'POST' : 'GET';
    if (method !== wanted) return { ...problem(405, `${path} takes ${wanted}`), log: { allow: wanted } };
    if (path === '/' || path === '/v1' || path === '/v1/') return { status: 200, body: DIRECTORY };

    if (path.startsWith('/v1/holds/')) {
      const who = await agentOf(ctx, token);
      if ('status' in who) return who;
      const id = decodeURIComponent(path.slice('/v1/holds/'.length));
      const view = await holdStatus(deps, who.agent, id);
      // another agent's hold is answered as no hold at all: hold ids are not for others to probe
      if (!view) return problem(404, `agent ${who.agent} has no hold ${id.slice(0, 80)}; a hold's id is in the answer of the call that made it (extensions.holdId)`, { agent: who.agent });
      return { status: 200, body: view, log: { agent: who.agent, holdId: view.id, holdStatus: view.status } };
    }

    // checks cost live lookups: a caller gets a bounded number at once
    const release = limiter.take(callerKey(ctx));
    if (!release) return problem(429, `too many pre-flight requests of yours at once (at most ${limiter.perCaller}); wait for their answers, then ask again`);
    try {
      const raw = await readJson(req);
      if (!Buffer.isBuffer(raw)) return raw;
      if (path === '/v1/check') {
        const input = parseCheck(raw);
        if (!input.ok) return problem(400, input.message);
        const r = await checkCall(deps, ctx, input.value, decisionId, token);
        if (!r.ok) return problem(r.status, r.message, { host: input.value.host });
        const d = r.decision;
        return {
          status: 200,
          body: r.answer,
          log: { agent: r.answer.agent, host: input.value.host, decision: r.answer.decision, rule: r.answer.rule, operation: d.operation?.name, class: d.operation?.class, target: d.operation?.target ? { type: d.operation.target.type, id: d.operation.target.id } : undefined, scope: r.answer.operations.find((o) => o.operation === d.operation?.name)?.scope.summary, lookups: d.scope?.lookups, approval: r.answer.approval?.holdId },
        };
      }
      const input = parseScope(raw);
      if (!input.ok) return problem(400, input.message);
      const r = await scopeOf(deps, ctx, input.value, token);
      if (!r.ok) return problem(r.status, r.message, { provider: input.value.provider });
      return { status: 200, body: { agent: r.agent, provider: input.value.provider, target: { type: input.value.type, id: input.value.id }, scope: r.scope, decisionId }, log: { agent: r.agent, provider: input.value.provider, target: { type: input.value.type, id: input.value.id }, scope: r.scope.summary, lookups: r.lookups } };
    } finally {
      release();
    }
  }

  return (ctx, req, res, finished) => {
    const started = performance.now();
    const decisionId = newDecisionId();
    void route(ctx, req, decisionId)
      .catch((err: unknown): Answered => {
        deps.logger.error({ decisionId, err: { message: errorMessage(err), stack: (err as { stack?: string } | null)?.stack } }, 'pre-flight request failed');
        return problem(500, 'internal error while checking; nothing was executed');
      })
      .then((a) => {
        const allow = a.log?.['allow'];
        if (a.status === 413 || a.status === 408) res.setHeader('connection', 'close');
        answerJson(res, a.status, decisionId, a.body, typeof allow === 'string' ? { allow } : {});
        const { allow: _, ...log } = a.log ?? {};
        // one line per pre-flight request, like a call's but its own message: checks are logged, never audited
        deps.logger.info({ decisionId, connectionId: ctx.connectionId, agent: ctx.agent, via: ctx.via, client: ctx.clientAddress, method: req.method, path: (req.url ?? '').split('?')[0], status: a.status, durationMs: Math.round((performance.now() - started) * 1000) / 1000, ...log, ...(a.status >= 400 ? { reason: (a.body as { error?: string }).error?.slice(0, 300) } : {}) }, 'check');
      })
      .finally(finished);
  };
}
