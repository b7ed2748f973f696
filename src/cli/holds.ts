import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { ADMIN_TOKEN_FILE } from '../admin/token.js';
import { errorCode, errorMessage, RuntimeError, StoreError, UsageError } from '../errors.js';
import { parse, parseDuration, parseHostPort, type Parsed } from './args.js';
import { holdJson } from '../admin/admin-server.js';
import { createLogger } from '../audit/logger.js';
import { Holds } from '../holds/holds.js';
import { openStore } from '../holds/open-store.js';
import { parseStoreSpec } from '../holds/store-spec.js';
import type { HoldStatus } from '../holds/store-types.js';
import { confirmationFor, confirms } from '../holds/confirm.js';

export const HOLDS_HELP = `Usage: scopegate holds list [--status STATUS] [--json]
       scopegate holds show ID [--json]
       scopegate holds approve ID [--reason TEXT] [--confirm NAME]
       scopegate holds deny ID [--reason TEXT]

Talk to a running scopegate's admin API about held calls, or, with --store, to the store itself
(any replica's waiting call is released by an approval made here: scopegate hears of it from the
store).

  list      newest first, with whether the agent is still waiting; --status pending|approved|denied|expired|used
  show      one hold: every operation of the call (strictest first) with its class, decision and
            live scope (project, environments, live deployments, traffic, what it destroys,
            backups), whether the agent is waiting, the rule, and what became of it
  approve   forward the waiting call, or let the identical retry through once. A call that cannot
            be undone needs --confirm with its target's name (as show prints it); on a terminal
            you are asked for it instead
  deny      refuse it; the waiting call (or its retry) gets SCOPEGATE_DENIED

Options:
  --admin HOST:PORT   the admin API (default 127.0.0.1:8081)
  --admin-token TOKEN the admin token (or env SCOPEGATE_ADMIN_TOKEN; else DATA_DIR/admin-token)
  --data-dir DIR      where to find admin-token (default .scopegate/)
  --store URL         act on the store directly instead of an admin API: sqlite:PATH or
                      postgres://USER:PASSWORD@HOST:PORT/DB (the password is never printed)
  --approval-ttl DURATION  with --store: how long an approval made here lets its call through
                      (default 15m, as start's default)
  --reason TEXT       why, recorded in the audit trail
  --confirm NAME      the target's name, to approve an irreversible call
  --json              print the API's JSON
  -h, --help          this text

Exit status: 0 done, 1 the admin API (or the store) refused or could not be reached, 2 bad usage.`;

interface ScopeView {
  status?: string;
  reason?: string;
  resource?: { type: string; id: string; name?: string };
  project?: { id: string; name?: string };
  environments?: { name: string }[];
  shared?: boolean;
  liveDeployments?: { environment: { name: string }; count: number; replicas?: number }[];
  backups?: { count: number; onTarget: boolean; newestAt?: string };
  contents?: { type: string; id: string; name?: string }[];
  traffic?: unknown;
  facts?: Record<string, unknown>;
}

interface HoldView {
  id: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  agent: string;
  host: string;
  path?: string;
  operation: string;
  target: { type: string; id: string | null } | null;
  scope: ScopeView;
  scopeText?: string;
  rule: string;
  reason: string;
  decidedBy?: string | null;
  decisionReason?: string | null;
  usedByDecision?: string | null;
  operations?: { name: string; alias: string | null; class: string; target: { type: string; id: string | null } | null; args: unknown; scope?: ScopeView; scopeText?: string; decision?: { action: string; rule: string; reason: string } }[];
  waiting?: { since: string; seconds: number; calls: number } | null;
  confirm?: { expected: string; what: string; operation: string } | null;
}

/** The scope in the same words the agent and the page get (the API's scopeText), plus the project. */
function scopeLine(s: ScopeView, text: string | undefined): string {
  if (s.status === 'not-needed') return 'no lookup needed';
  if (s.status !== 'resolved') return `unresolved (${s.reason ?? 'no lookup'})`;
  return `${s.project ? `project ${s.project.name ?? s.project.id}: ` : ''}${text ?? ''}`;
}

function waitingLine(h: HoldView): string {
  if (h.status !== 'pending') return '';
  return h.waiting ? `waiting ${h.waiting.seconds} s${h.waiting.calls > 1 ? ` (${h.waiting.calls} calls)` : ''}` : 'not waiting';
}

/** Asks on the terminal for what confirms an irreversible approval. */
async function ask(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export async function runHolds(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'holds',
    argv,
    { admin: { type: 'string' }, 'admin-token': { type: 'string' }, 'data-dir': { type: 'string' }, store: { type: 'string' }, 'approval-ttl': { type: 'string' }, reason: { type: 'string' }, confirm: { type: 'string' }, status: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (values['help']) {
    process.stdout.write(`${HOLDS_HELP}\n`);
    return 0;
  }
  const [action, id, ...extra] = positionals;
  const needsId = action === 'show' || action === 'approve' || action === 'deny';
  if (!action || !['list', 'show', 'approve', 'deny'].includes(action) || (needsId && !id) || (!needsId && id) || extra.length > 0) {
    throw new UsageError(`scopegate holds: say list, show ID, approve ID or deny ID\n\n${HOLDS_HELP}`);
  }
  if (values['store'] !== undefined) return withStoreCall(values, action, id, (call) => act(values, action, id, call));
  if (values['approval-ttl'] !== undefined) throw new UsageError('scopegate holds: --approval-ttl applies with --store only (a running scopegate uses its own)');
  const admin = parseHostPort('--admin', (values['admin'] as string | undefined) ?? '127.0.0.1:8081');
  let token = (values['admin-token'] as string | undefined) ?? process.env['SCOPEGATE_ADMIN_TOKEN'];
  if (!token) {
    const path = join((values['data-dir'] as string | undefined) ?? '.scopegate', ADMIN_TOKEN_FILE);
    try {
      token = readFileSync(path, 'utf8').trim();
    } catch {
      throw new UsageError(`no admin token: pass --admin-token, set SCOPEGATE_ADMIN_TOKEN, or point --data-dir at the folder holding ${ADMIN_TOKEN_FILE} (looked for ${path})`);
    }
  }
  const base = `http://${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`;
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    let res;
    try {
      res = await request(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
    } catch (err) {
      throw new RuntimeError(`cannot reach the admin API at ${base}: ${errorCode(err) ?? errorMessage(err)}; is scopegate running, and is --admin right?`);
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = { message: text };
    }
    if (res.statusCode >= 400) throw new RuntimeError(`${(json as { message?: string }).message ?? `HTTP ${res.statusCode}`} (HTTP ${res.statusCode})`);
    return json;
  };
  return act(values, action, id, call);
}

type Call = (method: 'GET' | 'POST', path: string, body?: { reason?: string; confirm?: string }) => Promise<unknown>;

/**
 * The admin API's hold routes, answered from the store itself: the same JSON (holdJson), the same
 * refusals (no such hold, already decided), the decision audited as by the admin API (actor cli).
 */
async function withStoreCall(values: Parsed['values'], action: string, id: string | undefined, use: (call: Call) => Promise<number>): Promise<number> {
  const spec = parseStoreSpec(values['store'] as string, process.env, (values['data-dir'] as string | undefined) ?? '.scopegate');
  const approvalTtlMs = parseDuration('--approval-ttl', (values['approval-ttl'] as string | undefined) ?? '15m');
  let store;
  try {
    store = await openStore(spec);
  } catch (err) {
    throw err instanceof StoreError ? new RuntimeError(err.message) : err;
  }
  let holds: Holds | undefined;
  try {
    holds = new Holds(store, await store.fingerprintKey(), { holdTtlMs: 0, approvalTtlMs, logger: createLogger('silent') });
    const h = holds;
    const call: Call = async (method, path, body) => {
      const m = /^\/api\/holds\/([^/?]+)(?:\/(approve|deny))?$/.exec(path);
      if (!m) {
        const status = new URL(path, 'http://x').searchParams.get('status') ?? undefined;
        return (await h.store.listHolds(status as HoldStatus | undefined, 100)).map((x) => holdJson(x));
      }
      const holdId = decodeURIComponent(m[1]!);
      const existing = await h.store.getHold(holdId);
      if (!existing) throw new RuntimeError(`no hold ${holdId} in ${spec.shown}`);
      if (method === 'GET') return holdJson(existing);
      // an irreversible call's approval names its target, as on the admin API
      const needed = m[2] === 'approve' && existing.status === 'pending' ? confirmationFor(existing) : null;
      if (needed && body?.confirm !== undefined && !confirms(needed, body.confirm)) {
        throw new RuntimeError(`${holdId}: "${body.confirm.trim().slice(0, 80)}" is not the name of ${needed.what}; approve with --confirm ${needed.expected}`);
      }
      const decided = await h.decide(holdId, m[2] === 'approve', 'cli', body?.reason ?? null);
      if (!decided) throw new RuntimeError(`hold ${holdId} cannot be ${m[2] === 'approve' ? 'approved' : 'denied'}: ${existing.status === 'pending' ? 'it expired' : `it is already ${existing.status}`}`);
      return holdJson(decided);
    };
    return await use(call);
  } catch (err) {
    throw err instanceof StoreError ? new RuntimeError(`the store ${spec.shown} failed: ${err.message}`) : err;
  } finally {
    if (holds) await holds.close();
    else await store.close();
  }
}

async function act(values: Parsed['values'], action: string, id: string | undefined, call: Call): Promise<number> {
  const out = (v: unknown, text: string): number => {
    process.stdout.write(values['json'] ? `${JSON.stringify(v, null, 2)}\n` : `${text}\n`);
    return 0;
  };
  if (action === 'list') {
    const status = values['status'] as string | undefined;
    const list = (await call('GET', `/api/holds${status ? `?status=${encodeURIComponent(status)}` : ''}`)) as HoldView[];
    const lines = list.map((h) => {
      const n = h.operations && h.operations.length > 1 ? ` (+${h.operations.length - 1} more)` : '';
      const w = waitingLine(h);
      return `${h.id}  ${h.status.padEnd(8)}${w ? `  ${w}` : ''}  ${h.createdAt}  ${h.agent}  ${h.operation}${h.target ? ` ${h.target.type}:${h.target.id}` : ''}${n}  [${scopeLine(h.scope, h.scopeText)}]  rule ${h.rule}`;
    });
    return out(list, lines.length > 0 ? lines.join('\n') : 'no holds');
  }
  const path = `/api/holds/${encodeURIComponent(id!)}`;
  if (action === 'show') {
    const h = (await call('GET', path)) as HoldView;
    const ops = h.operations ?? [];
    const opLines = ops.flatMap((o, i) => [
      `  ${i + 1}. ${o.alias ? `${o.alias}: ` : ''}${o.name}${o.target ? ` on ${o.target.type} ${o.target.id}` : ''}  [${o.class}]${o.decision ? `  → ${o.decision.action} (${o.decision.rule})` : ''}`,
      ...(o.scope ? [`     scope  ${scopeLine(o.scope, o.scopeText)}`] : []),
      `     args   ${JSON.stringify(o.args)}`,
    ]);
    return out(
      h,
      [
        `hold      ${h.id} (${h.status})${h.status === 'pending' ? `: agent ${h.waiting ? `waiting for ${h.waiting.seconds} s${h.waiting.calls > 1 ? ` (${h.waiting.calls} identical calls)` : ''}; approving forwards it now` : 'not waiting; approving lets its identical retry through once'}` : ''}`,
        `caller    ${h.agent} → ${h.host}${h.path ?? ''}`,
        `operation ${h.operation}${h.target ? ` on ${h.target.type} ${h.target.id}` : ''}${ops.length > 1 ? ` (the strictest of ${ops.length} operations, all listed below)` : ''}`,
        `scope     ${scopeLine(h.scope, h.scopeText)}`,
        `rule      ${h.rule}: ${h.reason}`,
        `held      ${h.createdAt}, expires ${h.expiresAt}`,
        ...(h.confirm ? [`confirm   ${h.confirm.operation} cannot be undone: approve with --confirm ${h.confirm.expected}`] : []),
        ...(h.decidedBy ? [`decided   by ${h.decidedBy}${h.decisionReason ? `: ${h.decisionReason}` : ''}`] : []),
        ...(h.usedByDecision ? [`used      by call ${h.usedByDecision}`] : []),
        `operations, strictest first:`,
        ...opLines,
      ].join('\n'),
    );
  }
  const reason = values['reason'] as string | undefined;
  let confirm = values['confirm'] as string | undefined;
  if (action === 'approve' && confirm === undefined) {
    const h = (await call('GET', path)) as HoldView;
    if (h.confirm) {
      if (!process.stdin.isTTY) {
        throw new UsageError(`${h.id}: ${h.confirm.operation} cannot be undone; to approve it, name its target: scopegate holds approve ${h.id} --confirm ${h.confirm.expected}`);
      }
      confirm = await ask(`${h.confirm.operation} on ${h.confirm.what} cannot be undone. Type ${h.confirm.expected} to approve: `);
    }
  }
  const body = { ...(reason ? { reason } : {}), ...(action === 'approve' && confirm !== undefined ? { confirm } : {}) };
  const h = (await call('POST', `${path}/${action}`, body)) as HoldView;
  return out(h, action === 'approve' ? `approved ${h.id}: the waiting call is forwarded, or its identical retry goes through once` : `denied ${h.id}`);
}
