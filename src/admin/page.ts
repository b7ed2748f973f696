import { createHash } from 'node:crypto';
import { confirmationFor } from '../holds/confirm.js';
import type { Hold, HoldOperation } from '../holds/store-types.js';
import { describeContents, describeExecution, describeTraffic, durationText, type Scope, type Traffic } from '../scope/scope.js';

/**
 * Server-rendered approval page: no external asset, every value escaped, one small inline script
 * (allowed by its hash in the CSP) that reloads the page while nobody is typing in it.
 */
const esc = (s: unknown): string =>
  String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

/** Reload every 5 s, but never under a person who is typing a reason or a name to confirm. */
const REFRESH_SCRIPT =
  "(function(){function busy(){var a=document.activeElement;if(a&&(a.tagName==='INPUT'||a.tagName==='TEXTAREA'))return true;var f=document.querySelectorAll('input[type=text]');for(var i=0;i<f.length;i++){if(f[i].value!=='')return true}return false}function tick(){if(busy()){setTimeout(tick,5000)}else{location.reload()}}setTimeout(tick,5000)})();";

/** The CSP source that allows the refresh script and nothing else. */
export const PAGE_SCRIPT_HASH = `'sha256-${createHash('sha256').update(REFRESH_SCRIPT).digest('base64')}'`;

const STYLE = `
*{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1c2330}
header{background:#1c2330;color:#fff;padding:12px 16px;display:flex;justify-content:space-between;align-items:center;gap:8px}
header h1{font-size:18px;margin:0}main{max-width:980px;margin:16px auto;padding:0 12px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 16px;margin-bottom:16px;overflow-wrap:anywhere}
.card h2{font-size:16px;margin:0 0 8px}.muted{color:#5d6778}.env{display:inline-block;padding:1px 8px;border-radius:10px;background:#e8edf5;margin:0 4px 2px 0}
.env.protected{background:#fde2e1;color:#9b1c1c;font-weight:600}dl{display:grid;grid-template-columns:130px 1fr;gap:4px 12px;margin:8px 0}
dt{color:#5d6778}dd{margin:0;min-width:0}pre{background:#f1f3f6;padding:8px;border-radius:6px;overflow:auto;font-size:13px;white-space:pre-wrap}
form.inline{display:inline}button{font:inherit;padding:8px 16px;border-radius:6px;border:1px solid transparent;cursor:pointer;min-height:40px}
.approve{background:#1f7a3a;color:#fff}.deny{background:#b42318;color:#fff}input[type=text],input[type=password]{font:inherit;padding:8px;border:1px solid #c5ccd6;border-radius:6px;width:260px;max-width:100%}
.status{font-weight:600;text-transform:uppercase;font-size:12px;letter-spacing:.04em}.error{color:#b42318}.flash{padding:8px 12px;border-radius:6px;background:#e8f4ec}
.flash.error{background:#fde2e1}.ops{list-style:none;padding:0;margin:8px 0}.op{border-left:4px solid #c5ccd6;padding:6px 10px;margin:6px 0;background:#fafbfc}
.op.deny{border-color:#b42318}.op.hold{border-color:#c27c0e}.op.allow{border-color:#1f7a3a}.badge{display:inline-block;font-size:12px;padding:0 6px;border-radius:4px;background:#e8edf5;margin-left:4px}
.badge.irreversible{background:#b42318;color:#fff}.waiting{font-weight:600;color:#8a5300}.confirm{margin:8px 0;padding:8px;border:1px solid #f0b4ae;border-radius:6px;background:#fff6f5}
.actions{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-top:8px}
@media (max-width:600px){dl{grid-template-columns:1fr}dt{margin-top:6px}header h1{font-size:16px}.actions form,.actions input[type=text],.actions button{width:100%}}`;

function layout(title: string, body: string, loggedIn: boolean, csrf = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style>${loggedIn ? `<noscript><meta http-equiv="refresh" content="15"></noscript>` : ''}</head><body>
<header><h1>scopegate — held calls</h1>${loggedIn ? `<form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="${esc(csrf)}"><button>Sign out</button></form>` : ''}</header>
<main>${body}</main>${loggedIn ? `<script>${REFRESH_SCRIPT}</script>` : ''}</body></html>`;
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
  const contents = scope['contents'] as Scope['contents'];
  if (scope['status'] === 'not-needed') return `<span class="muted">no lookup needed</span>`;
  if (scope['status'] !== 'resolved') return `<span class="error">unresolved — ${esc(scope['reason'] ?? 'no lookup')}</span>`;
  return `${resource ? `${esc(resource.type)} <code>${esc(resource.id)}</code>${resource.name ? ` (${esc(resource.name)})` : ''} in ` : ''}project ${esc(project?.name ?? project?.id ?? '?')}<br>
environments: ${envs.map((e) => `<span class="env${protectedNames.has(e.name.toLowerCase()) ? ' protected' : ''}">${esc(e.name)}</span>`).join('') || 'none'}${scope['shared'] ? ' <strong>(shared)</strong>' : ''}<br>
${esc(describeExecution(scope as unknown as Scope) || 'no live deployments')}<br>
${scope['traffic'] ? `${esc(describeTraffic(scope['traffic'] as Traffic))}<br>` : ''}
${contents && contents.length > 0 ? `<strong>${esc(describeContents(contents))}</strong><br>` : ''}
backups: ${backups ? `${backups.count}${backups.newestAt ? `, newest ${esc(backups.newestAt)}` : ''}${backups.onTarget && backups.count > 0 ? ' — <strong>stored on the target itself</strong>' : ''}` : 'not applicable'}
${scope['facts'] ? `<br>facts: <code>${esc(JSON.stringify(scope['facts']))}</code>` : ''}`;
}

/** One operation of the call: what it does, to what, what the policy says of it alone, and its live scope. */
function operationItem(o: HoldOperation, protectedNames: ReadonlySet<string>): string {
  const action = o.decision?.action ?? '';
  return `<li class="op ${esc(action)}"><strong>${esc(o.alias ? `${o.alias}: ` : '')}${esc(o.name)}</strong>${o.target ? ` on ${esc(o.target.type)} <code>${esc(o.target.id)}</code>` : ''}
<span class="badge${o.class === 'destructive-irreversible' ? ' irreversible' : ''}">${esc(o.class)}</span>${o.decision ? ` <span class="badge">${esc(o.decision.action)} · ${esc(o.decision.rule)}</span>` : ''}
${o.scope ? `<div>${scopeBlock(o.scope, protectedNames)}</div>` : ''}</li>`;
}

function waitingText(h: Hold, waiting: { since: number; calls: number } | null, now: number): string {
  if (h.status !== 'pending') return '';
  if (waiting) {
    return `<dt>agent</dt><dd class="waiting">waiting for ${esc(durationText((now - waiting.since) / 1000))}${waiting.calls > 1 ? ` (${waiting.calls} identical calls)` : ''}: approving forwards its call now</dd>`;
  }
  return `<dt>agent</dt><dd class="muted">not waiting (it was answered "held" and may retry): approving lets its identical retry through once</dd>`;
}

export function holdsPage(
  pending: Hold[],
  recent: Hold[],
  csrf: string,
  protectedNames: ReadonlySet<string>,
  flash?: { text: string; error?: boolean },
  waitingOn: (id: string) => { since: number; calls: number } | null = () => null,
  now = Date.now(),
): string {
  const card = (h: Hold): string => {
    const many = h.operations.length > 1;
    const confirm = h.status === 'pending' ? confirmationFor(h) : null;
    const withScopes = h.operations.some((o) => o.scope !== undefined);
    return `<div class="card" id="${esc(h.id)}">
<h2>${many ? `${h.operations.length} operations in one call, strictest first: ` : ''}${esc(h.operation)}${h.target ? ` on ${esc(h.target.type)} <code>${esc(h.target.id)}</code>` : ''} <span class="status muted">${esc(h.status)}</span></h2>
<dl><dt>hold</dt><dd><code>${esc(h.id)}</code> (decision <code>${esc(h.decisionId)}</code>)</dd>
${waitingText(h, waitingOn(h.id), now)}
<dt>caller</dt><dd>${esc(h.agent)} → ${esc(h.host)}${esc(h.path)}</dd>
<dt>rule</dt><dd>${esc(h.rule)} — ${esc(h.reason)}</dd>
${withScopes ? '' : `<dt>live scope</dt><dd>${scopeBlock(h.scope, protectedNames)}</dd>`}
<dt>held</dt><dd>${esc(new Date(h.createdAt).toISOString())}; expires ${esc(new Date(h.expiresAt).toISOString())}</dd>
${h.decidedAt ? `<dt>decided</dt><dd>${esc(h.status)} by ${esc(h.decidedBy)} at ${esc(new Date(h.decidedAt).toISOString())}${h.decisionReason ? ` — ${esc(h.decisionReason)}` : ''}</dd>` : ''}</dl>
<div><strong>${many ? 'Every operation an approval lets through' : 'The operation'}</strong><ul class="ops">${h.operations.map((o) => operationItem(o, protectedNames)).join('')}</ul></div>
<details><summary>exact call</summary><pre>${esc(JSON.stringify(h.operations.map(({ scope: _s, ...o }) => o), null, 2))}</pre></details>
${
  h.status === 'pending'
    ? `<div class="actions"><form class="inline" method="post" action="/holds/${encodeURIComponent(h.id)}/approve"><input type="hidden" name="csrf" value="${esc(csrf)}">${
        confirm
          ? `<div class="confirm"><label for="confirm-${esc(h.id)}">${esc(confirm.operation)} cannot be undone. Type <strong>${esc(confirm.expected)}</strong> to approve:</label><br><input type="text" id="confirm-${esc(h.id)}" name="confirm" required autocomplete="off" spellcheck="false" placeholder="${esc(confirm.expected)}" aria-label="type ${esc(confirm.expected)} to confirm ${esc(h.id)}"></div>`
          : ''
      }<input type="text" name="reason" placeholder="reason (optional)" aria-label="reason for ${esc(h.id)}"> <button class="approve" type="submit" data-hold="${esc(h.id)}">Approve${many ? ` all ${h.operations.length}` : ''}</button></form>
<form class="inline" method="post" action="/holds/${encodeURIComponent(h.id)}/deny"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="reason" value=""><button class="deny" type="submit" data-hold="${esc(h.id)}">Deny</button></form></div>`
    : ''
}</div>`;
  };
  return layout(
    'scopegate — held calls',
    `${flash ? `<p class="flash${flash.error ? ' error' : ''}" role="alert">${esc(flash.text)}</p>` : ''}<h2>Waiting for a decision (${pending.length})</h2>${pending.map(card).join('') || '<p class="muted">Nothing is held.</p>'}
<h2>Recently decided</h2>${recent.map(card).join('') || '<p class="muted">None yet.</p>'}`,
    true,
    csrf,
  );
}
