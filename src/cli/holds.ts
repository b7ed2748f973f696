import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { ADMIN_TOKEN_FILE } from '../admin/token.js';
import { errorCode, errorMessage, RuntimeError, UsageError } from '../errors.js';
import { parse, parseHostPort } from './args.js';
import { describeScope, type Scope } from '../scope/scope.js';

export const HOLDS_HELP = `Usage: scopegate holds list [--status STATUS] [--json]
       scopegate holds show ID [--json]
       scopegate holds approve ID [--reason TEXT]
       scopegate holds deny ID [--reason TEXT]

Talk to a running scopegate's admin API about held calls.

  list      newest first; --status pending|approved|denied|expired|used
  show      one hold: the exact call, its live scope, the rule, and what became of it
  approve   forward the waiting call, or let the identical retry through once
  deny      refuse it; the waiting call (or its retry) gets SCOPEGATE_DENIED

Options:
  --admin HOST:PORT   the admin API (default 127.0.0.1:8081)
  --admin-token TOKEN the admin token (or env SCOPEGATE_ADMIN_TOKEN; else DATA_DIR/admin-token)
  --data-dir DIR      where to find admin-token (default .scopegate/)
  --reason TEXT       why, recorded in the audit trail
  --json              print the API's JSON
  -h, --help          this text

Exit status: 0 done, 1 the admin API refused or could not be reached, 2 bad usage.`;

interface HoldView {
  id: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  agent: string;
  host: string;
  operation: string;
  target: { type: string; id: string | null } | null;
  scope: { status?: string; environments?: { name: string }[]; reason?: string; shared?: boolean; backups?: { count: number; onTarget: boolean } };
  rule: string;
  reason: string;
  decidedBy?: string | null;
  decisionReason?: string | null;
  operations?: unknown[];
}

function scopeText(s: HoldView['scope']): string {
  if (s.status !== 'resolved') return `unresolved (${s.reason ?? 'no lookup'})`;
  const envs = (s.environments ?? []).map((e) => e.name).join(', ') || 'no environment';
  return `${envs}${s.shared ? ' (shared)' : ''}${s.backups ? `; ${s.backups.count} backup(s)${s.backups.onTarget && s.backups.count > 0 ? ' on the target' : ''}` : ''}`;
}

export async function runHolds(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    'holds',
    argv,
    { admin: { type: 'string' }, 'admin-token': { type: 'string' }, 'data-dir': { type: 'string' }, reason: { type: 'string' }, status: { type: 'string' }, json: { type: 'boolean' } },
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
  const out = (v: unknown, text: string): number => {
    process.stdout.write(values['json'] ? `${JSON.stringify(v, null, 2)}\n` : `${text}\n`);
    return 0;
  };
  if (action === 'list') {
    const status = values['status'] as string | undefined;
    const list = (await call('GET', `/api/holds${status ? `?status=${encodeURIComponent(status)}` : ''}`)) as HoldView[];
    const lines = list.map((h) => `${h.id}  ${h.status.padEnd(8)}  ${h.createdAt}  ${h.agent}  ${h.operation}${h.target ? ` ${h.target.type}:${h.target.id}` : ''}  [${scopeText(h.scope)}]  rule ${h.rule}`);
    return out(list, lines.length > 0 ? lines.join('\n') : 'no holds');
  }
  const path = `/api/holds/${encodeURIComponent(id!)}`;
  if (action === 'show') {
    const h = (await call('GET', path)) as HoldView;
    return out(
      h,
      [
        `hold      ${h.id} (${h.status})`,
        `agent     ${h.agent} → ${h.host}`,
        `operation ${h.operation}${h.target ? ` on ${h.target.type} ${h.target.id}` : ''}`,
        `scope     ${describeScope(h.scope as unknown as Scope)}`,
        `rule      ${h.rule}: ${h.reason}`,
        `held      ${h.createdAt}, expires ${h.expiresAt}`,
        ...(h.decidedBy ? [`decided   by ${h.decidedBy}${h.decisionReason ? `: ${h.decisionReason}` : ''}`] : []),
        `call      ${JSON.stringify(h.operations)}`,
      ].join('\n'),
    );
  }
  const reason = values['reason'] as string | undefined;
  const h = (await call('POST', `${path}/${action}`, reason ? { reason } : {})) as HoldView;
  return out(h, action === 'approve' ? `approved ${h.id}: the waiting call is forwarded, or its identical retry goes through once` : `denied ${h.id}`);
}
