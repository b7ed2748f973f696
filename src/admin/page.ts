import type { Hold } from '../holds/store-types.js';
import { describeExecution, describeTraffic, type Scope, type Traffic } from '../scope/scope.js';

/** Server-rendered approval page: no script, no external asset, every value escaped. */
const esc = (s: unknown): string =>
  String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1c2330}
header{background:#1c2330;color:#fff;padding:14px 24px;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:18px;margin:0}main{max-width:980px;margin:24px auto;padding:0 16px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;margin-bottom:16px}
.card h2{font-size:16px;margin:0 0 8px}.muted{color:#5d6778}.env{display:inline-block;padding:1px 8px;border-radius:10px;background:#e8edf5;margin-right:4px}
.env.protected{background:#fde2e1;color:#9b1c1c;font-weight:600}dl{display:grid;grid-template-columns:140px 1fr;gap:4px 12px;margin:8px 0}
dt{color:#5d6778}dd{margin:0}pre{background:#f1f3f6;padding:8px;border-radius:6px;overflow:auto;font-size:13px}
form.inline{display:inline}button{font:inherit;padding:6px 16px;border-radius:6px;border:1px solid transparent;cursor:pointer}
.approve{background:#1f7a3a;color:#fff}.deny{background:#b42318;color:#fff}input[type=text],input[type=password]{font:inherit;padding:6px 8px;border:1px solid #c5ccd6;border-radius:6px;width:260px}
.status{font-weight:600;text-transform:uppercase;font-size:12px;letter-spacing:.04em}.error{color:#b42318}`;

function layout(title: string, body: string, loggedIn: boolean, csrf = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head><body>
<header><h1>scopegate — held calls</h1>${loggedIn ? `<form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="${esc(csrf)}"><button>Sign out</button></form>` : ''}</header>
<main>${body}</main></body></html>`;
}

export function loginPage(error?: string): string {
  return layout(
    'scopegate — sign in',
    `<div class="card"><h2>Sign in</h2><p class="muted">Paste the admin token (the admin-token file in scopegate's --data-dir, or the token it was started with).</p>
${error ? `<p class="error">${esc(error)}</p>` : ''}
<form method="post" action="/login"><input type="password" name="token" aria-label="admin token" autocomplete="off" required> <button class="approve" type="submit">Sign in</button></form></div>`,
    false,
  );
}

function scopeBlock(scope: Record<string, unknown>, protectedNames: ReadonlySet<string>): string {
  const envs = (scope['environments'] as { id: string; name: string }[] | undefined) ?? [];
  const backups = scope['backups'] as { count: number; newestAt?: string; onTarget: boolean } | undefined;
  const project = scope['project'] as { id: string; name?: string } | undefined;
  const resource = scope['resource'] as { type: string; id: string; name?: string } | undefined;
  if (scope['status'] !== 'resolved') return `<dd class="error">unresolved — ${esc(scope['reason'] ?? 'no lookup')}</dd>`;
  return `<dd>${resource ? `${esc(resource.type)} <code>${esc(resource.id)}</code>${resource.name ? ` (${esc(resource.name)})` : ''} in ` : ''}project ${esc(project?.name ?? project?.id ?? '?')}<br>
environments: ${envs.map((e) => `<span class="env${protectedNames.has(e.name.toLowerCase()) ? ' protected' : ''}">${esc(e.name)}</span>`).join('') || 'none'}${scope['shared'] ? ' <strong>(shared)</strong>' : ''}<br>
${esc(describeExecution(scope as unknown as Scope) || 'no live deployments')}<br>
${scope['traffic'] ? `${esc(describeTraffic(scope['traffic'] as Traffic))}<br>` : ''}
backups: ${backups ? `${backups.count}${backups.newestAt ? `, newest ${esc(backups.newestAt)}` : ''}${backups.onTarget && backups.count > 0 ? ' — <strong>stored on the target itself</strong>' : ''}` : 'not applicable'}
${scope['facts'] ? `<br>facts: <code>${esc(JSON.stringify(scope['facts']))}</code>` : ''}</dd>`;
}

export function holdsPage(pending: Hold[], recent: Hold[], csrf: string, protectedNames: ReadonlySet<string>, flash?: string): string {
  const card = (h: Hold): string => `<div class="card" id="${esc(h.id)}">
<h2>${esc(h.operation)}${h.target ? ` on ${esc(h.target.type)} <code>${esc(h.target.id)}</code>` : ''} <span class="status muted">${esc(h.status)}</span></h2>
<dl><dt>hold</dt><dd><code>${esc(h.id)}</code> (decision <code>${esc(h.decisionId)}</code>)</dd>
<dt>agent</dt><dd>${esc(h.agent)} → ${esc(h.host)}${esc(h.path)}</dd>
<dt>rule</dt><dd>${esc(h.rule)} — ${esc(h.reason)}</dd>
<dt>live scope</dt>${scopeBlock(h.scope, protectedNames)}
<dt>held</dt><dd>${esc(new Date(h.createdAt).toISOString())}; expires ${esc(new Date(h.expiresAt).toISOString())}</dd>
${h.decidedAt ? `<dt>decided</dt><dd>${esc(h.status)} by ${esc(h.decidedBy)} at ${esc(new Date(h.decidedAt).toISOString())}${h.decisionReason ? ` — ${esc(h.decisionReason)}` : ''}</dd>` : ''}
<dt>exact call</dt><dd><pre>${esc(JSON.stringify(h.operations, null, 2))}</pre></dd></dl>
${
  h.status === 'pending'
    ? `<form class="inline" method="post" action="/holds/${encodeURIComponent(h.id)}/approve"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="text" name="reason" placeholder="reason (optional)" aria-label="reason for ${esc(h.id)}"> <button class="approve" type="submit" data-hold="${esc(h.id)}">Approve</button></form>
<form class="inline" method="post" action="/holds/${encodeURIComponent(h.id)}/deny"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="reason" value=""><button class="deny" type="submit" data-hold="${esc(h.id)}">Deny</button></form>`
    : ''
}</div>`;
  return layout(
    'scopegate — held calls',
    `${flash ? `<p>${esc(flash)}</p>` : ''}<h2>Waiting for a decision (${pending.length})</h2>${pending.map(card).join('') || '<p class="muted">Nothing is held.</p>'}
<h2>Recently decided</h2>${recent.map(card).join('') || '<p class="muted">None yet.</p>'}`,
    true,
    csrf,
  );
}
