import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../audit/logger.js';
import type { Holds } from '../holds/holds.js';
import type { Hold, HoldStatus, StoreHealth } from '../holds/store-types.js';
import { confirmationFor, confirms } from '../holds/confirm.js';
import { errorMessage, StoreError } from '../errors.js';
import type { Metrics } from './metrics.js';
import { holdsPage, loginPage, PAGE_SCRIPT_HASH } from './page.js';
import { bearerFrom, tokenMatches } from './token.js';
import { describeScope, type Scope } from '../scope/scope.js';

export interface AdminServerOptions {
  token: string;
  metrics: Metrics;
  logger: Logger;
  /** Whether the proxy listeners are up; /healthz answers 503 until they are. */
  ready: () => boolean;
  holds?: Holds;
  /** Environment names shown as protected on the page. */
  protectedNames?: () => ReadonlySet<string>;
  /** Which listeners are reachable beyond this machine, for /healthz. */
  exposure?: () => Record<string, 'loopback' | 'network'>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => void | Promise<void>;

interface Route {
  pattern: RegExp;
  methods: readonly string[];
  /** bearer: Authorization header only; session: the page's cookie (and CSRF on POST); none: /healthz. */
  auth: 'bearer' | 'session' | 'none';
  handle: Handler;
}

const STATUSES: readonly HoldStatus[] = ['pending', 'approved', 'denied', 'expired', 'used'];
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const MAX_BODY = 16 * 1024;

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // the page's one script (its reload) by hash; no other script can run
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; script-src ${PAGE_SCRIPT_HASH}; form-action 'self'; frame-ancestors 'none'`,
    // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on the page's own form posts
    'referrer-policy': 'same-origin',
    ...extra,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, extra);
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The store's state as /healthz shows it. */
function storeJson(h: StoreHealth): Record<string, unknown> {
  return { kind: h.kind, state: h.state, since: iso(h.since), ...(h.reason ? { reason: h.reason } : {}) };
}

/** A hold as the admin API shows it (interface.md), with the extra fields after the documented ones. */
export function holdJson(h: Hold, waiting: { since: number; calls: number } | null = null, now = Date.now()): Record<string, unknown> {
  const confirm = h.status === 'pending' ? confirmationFor(h) : null;
  return {
    id: h.id,
    decisionId: h.decisionId,
    status: h.status,
    createdAt: iso(h.createdAt),
    expiresAt: iso(h.expiresAt),
    agent: h.agent,
    host: h.host,
    operation: h.operation,
    target: h.target,
    scope: h.scope,
    rule: h.rule,
    reason: h.reason,
    scopeText: describeScope(h.scope as unknown as Scope),
    path: h.path,
    // each operation's scope in the same words as the hold's
    operations: h.operations.map((o) => (o.scope ? { ...o, scopeText: describeScope(o.scope as unknown as Scope) } : o)),
    decidedAt: iso(h.decidedAt),
    decidedBy: h.decidedBy,
    decisionReason: h.decisionReason,
    approvalExpiresAt: iso(h.approvalExpiresAt),
    usedAt: iso(h.usedAt),
    usedByDecision: h.usedByDecision,
    // calls waiting on it in this process: a pending hold nobody waits on is approved for a retry
    waiting: waiting && h.status === 'pending' ? { since: iso(waiting.since), seconds: Math.max(0, Math.round((now - waiting.since) / 1000)), calls: waiting.calls } : null,
    // an irreversible call's approval must name its target ({"confirm": NAME}; the page asks for it)
    confirm: confirm ? { expected: confirm.expected, what: confirm.what, operation: confirm.operation } : null,
  };
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** Admin API, approval page, health and metrics. Plain HTTP on loopback by default. */
export class AdminServer {
  private readonly server: Server;
  private readonly routes: Route[] = [];
  /** Page sessions: random id → CSRF token and expiry. In memory: a restart signs everyone out. */
  private readonly sessions = new Map<string, { csrf: string; expires: number }>();

  constructor(private readonly options: AdminServerOptions) {
    this.route(/^\/healthz$/, ['GET', 'HEAD'], 'none', (_q, res) =>
      // 200 for the process (a load balancer must not pull every replica when the shared store is
      // down: reads and denials still work); the store's own state is a field of its own
      options.ready() ? sendJson(res, 200, { status: 'ok', ...(options.exposure ? { exposure: options.exposure() } : {}), ...(options.holds ? { store: storeJson(options.holds.store.health()) } : {}) }) : sendJson(res, 503, { status: 'starting' }),
    );
    this.route(/^\/metrics$/, ['GET'], 'bearer', async (_q, res) => send(res, 200, options.metrics.registry.contentType, await options.metrics.registry.metrics()));
    this.route(/^\/api\/holds$/, ['GET'], 'bearer', async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const status = url.searchParams.get('status') ?? undefined;
      if (status !== undefined && !STATUSES.includes(status as HoldStatus)) return sendJson(res, 400, { error: 'bad_request', message: `status must be one of ${STATUSES.join(', ')}` });
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, 1000);
      sendJson(res, 200, (await this.needHolds().store.listHolds(status as HoldStatus | undefined, limit)).map((h) => this.view(h)));
    });
    this.route(/^\/api\/holds\/([A-Za-z0-9_-]{1,80})$/, ['GET'], 'bearer', async (_q, res, [id]) => {
      const h = await this.needHolds().store.getHold(id!);
      if (!h) return sendJson(res, 404, { error: 'not_found', message: `no hold ${id}` });
      sendJson(res, 200, this.view(h));
    });
    this.route(/^\/api\/holds\/([A-Za-z0-9_-]{1,80})\/(approve|deny)$/, ['POST'], 'bearer', async (req, res, [id, verb]) => {
      const text = await readBody(req);
      if (text === null) return sendJson(res, 413, { error: 'too_large', message: `the body is over ${MAX_BODY} bytes` });
      let reason: string | null = null;
      let typed: string | undefined;
      if (text.trim() !== '') {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return sendJson(res, 400, { error: 'bad_request', message: 'the body must be JSON: {"reason": "..."}' });
        }
        const r = (body as { reason?: unknown } | null)?.reason;
        if (r !== undefined && typeof r !== 'string') return sendJson(res, 400, { error: 'bad_request', message: 'reason must be a string' });
        reason = r ?? null;
        const c = (body as { confirm?: unknown } | null)?.confirm;
        if (c !== undefined && typeof c !== 'string') return sendJson(res, 400, { error: 'bad_request', message: "confirm must be a string: the target's name" });
        typed = c;
      }
      await this.decide(res, id!, verb === 'approve', 'admin-api', reason, { typed, required: false }, (h) => sendJson(res, 200, this.view(h)), (message, h) =>
        sendJson(res, 422, { error: 'confirm_mismatch', message, hold: this.view(h) }),
      );
    });
    this.route(/^\/api\/audit$/, ['GET'], 'bearer', async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const cursor = url.searchParams.get('cursor');
      if (cursor !== null && !/^\d+$/.test(cursor)) return sendJson(res, 400, { error: 'bad_request', message: 'cursor must be the nextCursor of a previous page' });
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, 1000);
      const events = await this.needHolds().store.queryAudit({
        ...(url.searchParams.get('hold') ? { hold: url.searchParams.get('hold')! } : {}),
        ...(url.searchParams.get('agent') ? { agent: url.searchParams.get('agent')! } : {}),
        ...(url.searchParams.get('host') ? { host: url.searchParams.get('host')! } : {}),
        ...(cursor !== null ? { before: Number(cursor) } : {}),
        limit,
      });
      const last = events[events.length - 1];
      sendJson(res, 200, { events: events.map((e) => ({ ...e, at: iso(e.at) })), nextCursor: events.length === limit && last?.seq !== undefined ? String(last.seq) : null });
    });
    // the page: the same token, through a login form and a session cookie
    this.route(/^\/$/, ['GET'], 'none', async (req, res) => {
      const s = this.session(req);
      if (!s) return send(res, 200, 'text/html; charset=utf-8', loginPage());
      send(res, 200, 'text/html; charset=utf-8', await this.page(s.csrf));
    });
    this.route(/^\/login$/, ['POST'], 'none', async (req, res) => {
      if (!this.sameOrigin(req)) return send(res, 403, 'text/plain; charset=utf-8', 'cross-site form posts are refused\n');
      const form = new URLSearchParams((await readBody(req)) ?? '');
      if (!tokenMatches(options.token, form.get('token') ?? undefined)) {
        options.logger.warn({ route: '/login' }, 'approval page sign-in with a wrong token');
        return send(res, 401, 'text/html; charset=utf-8', loginPage('That is not the admin token.'));
      }
      const id = randomBytes(24).toString('base64url');
      this.sessions.set(id, { csrf: randomBytes(24).toString('base64url'), expires: Date.now() + SESSION_TTL_MS });
      send(res, 303, 'text/plain; charset=utf-8', 'signed in\n', { location: '/', 'set-cookie': `sg_session=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}` });
    });
    this.route(/^\/logout$/, ['POST'], 'session', (req, res) => {
      this.sessions.delete(cookie(req, 'sg_session') ?? '');
      send(res, 303, 'text/plain; charset=utf-8', 'signed out\n', { location: '/', 'set-cookie': 'sg_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0' });
    });
    this.route(/^\/holds\/([A-Za-z0-9_-]{1,80})\/(approve|deny)$/, ['POST'], 'session', async (req, res, [id, verb]) => {
      const form = (req as IncomingMessage & { form?: URLSearchParams }).form!;
      const reason = form.get('reason') || null;
      const csrf = this.session(req)?.csrf ?? '';
      await this.decide(res, id!, verb === 'approve', 'page', reason, { typed: form.get('confirm') ?? undefined, required: true }, () => send(res, 303, 'text/plain; charset=utf-8', 'decided\n', { location: `/#${id}` }), async (message) =>
        send(res, 422, 'text/html; charset=utf-8', await this.page(csrf, { text: `Not approved: ${message}`, error: true })),
      );
    });
    this.server = createServer((req, res) => void this.dispatch(req, res));
    this.server.keepAliveTimeout = 5_000;
  }

  private needHolds(): Holds {
    if (!this.options.holds) throw new Error('holds are not enabled');
    return this.options.holds;
  }

  /** A hold as the API shows it, with whether a call in this process is waiting on it. */
  private view(h: Hold): Record<string, unknown> {
    return holdJson(h, this.options.holds?.waiting(h.id) ?? null);
  }

  private async page(csrf: string, flash?: { text: string; error?: boolean }): Promise<string> {
    const store = this.needHolds().store;
    const holds = this.needHolds();
    const recent = (await store.listHolds(undefined, 30)).filter((h) => h.status !== 'pending');
    return holdsPage(await store.listHolds('pending', 200), recent, csrf, this.options.protectedNames?.() ?? new Set(), flash, (id) => holds.waiting(id));
  }

  private async decide(
    res: ServerResponse,
    id: string,
    approve: boolean,
    actor: string,
    reason: string | null,
    /** What the person typed to confirm an irreversible approval; required on the page, checked when given on the API. */
    confirm: { typed: string | undefined; required: boolean },
    ok: (h: Hold) => void,
    mismatch: (message: string, h: Hold) => void | Promise<void>,
  ): Promise<void> {
    const holds = this.needHolds();
    const existing = await holds.store.getHold(id);
    if (!existing) return sendJson(res, 404, { error: 'not_found', message: `no hold ${id}` });
    const needed = approve && existing.status === 'pending' ? confirmationFor(existing) : null;
    if (needed && (confirm.required || confirm.typed !== undefined) && !confirms(needed, confirm.typed)) {
      const got = confirm.typed?.trim() ? `"${confirm.typed.trim().slice(0, 80)}" is not its name` : 'nothing was typed';
      return mismatch(`${needed.operation} cannot be undone: to approve ${id}, type the name of ${needed.what}: ${needed.expected} (${got})`, existing);
    }
    const h = await holds.decide(id, approve, actor, reason);
    if (!h) {
      const now = (await holds.store.getHold(id))!;
      const why = now.status === 'pending' ? 'it expired' : `it is already ${now.status}`;
      return sendJson(res, 409, { error: 'conflict', message: `hold ${id} cannot be ${approve ? 'approved' : 'denied'}: ${why}`, hold: this.view(now) });
    }
    this.options.logger.info({ holdId: id, decisionId: h.decisionId, status: h.status, actor, ...(reason ? { reason } : {}) }, approve ? 'hold approved' : 'hold denied');
    ok(h);
  }

  private route(pattern: RegExp, methods: readonly string[], auth: Route['auth'], handle: Handler): void {
    this.routes.push({ pattern, methods, auth, handle });
  }

  private session(req: IncomingMessage): { csrf: string; expires: number } | null {
    const id = cookie(req, 'sg_session');
    const s = id ? this.sessions.get(id) : undefined;
    if (!s) return null;
    if (s.expires < Date.now()) {
      this.sessions.delete(id!);
      return null;
    }
    return s;
  }

  /** A form post must come from this page: an Origin or Referer naming another site is refused. */
  private sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin ?? req.headers.referer;
    if (!origin) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    let match: RegExpExecArray | null = null;
    const route = this.routes.find((r) => (match = r.pattern.exec(path)) !== null);
    const api = path.startsWith('/api/') || path === '/metrics';
    // authenticate before saying whether a route exists: an unauthenticated caller learns nothing
    if ((api || route?.auth === 'bearer') && !tokenMatches(this.options.token, bearerFrom(req.headers.authorization))) {
      return sendJson(res, 401, { error: 'unauthorized', message: 'send Authorization: Bearer <admin token> (see the admin-token file in --data-dir)' }, { 'www-authenticate': 'Bearer realm="scopegate"' });
    }
    if (!route) return sendJson(res, 404, { error: 'not_found', message: `no admin route ${path}` });
    if (!route.methods.includes(req.method ?? '')) {
      return sendJson(res, 405, { error: 'method_not_allowed', message: `${path} takes ${route.methods.join(', ')}` }, { allow: route.methods.join(', ') });
    }
    if ((route.pattern.source.includes('holds') || route.pattern.source.includes('audit')) && !this.options.holds) {
      return sendJson(res, 503, { error: 'unavailable', message: 'holds are not enabled in this process' });
    }
    if (route.auth === 'session') {
      const s = this.session(req);
      if (!s) return send(res, 401, 'text/html; charset=utf-8', loginPage('Your session ended; sign in again.'));
      const text = await readBody(req);
      const form = new URLSearchParams(text ?? '');
      // CSRF: a form token bound to the session, plus the same-origin check; SameSite=Strict is the third lock
      if (!this.sameOrigin(req) || !tokenMatches(s.csrf, form.get('csrf') ?? undefined)) {
        this.options.logger.warn({ path }, 'approval page post without a valid CSRF token');
        return send(res, 403, 'text/plain; charset=utf-8', 'refused: this form was not sent from the approval page\n');
      }
      (req as IncomingMessage & { form?: URLSearchParams }).form = form;
    }
    try {
      await route.handle(req, res, (match as unknown as RegExpExecArray).slice(1));
    } catch (err) {
      this.options.logger.error({ path, err: { message: errorMessage(err) } }, 'admin route failed');
      if (res.headersSent) return;
      // the store down is said as such (nothing changed; try again), apart from a bug
      if (err instanceof StoreError) sendJson(res, 503, { error: 'store_unavailable', message: `${err.message}; nothing was changed, try again shortly` }, { 'retry-after': '2' });
      else sendJson(res, 500, { error: 'internal', message: 'the admin route failed; see the scopegate log' });
    }
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}
