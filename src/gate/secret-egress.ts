import type { IncomingMessage } from 'node:http';
import { findSecret, secretScanner } from '../custody/secret-scan.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { ConnectionContext } from '../proxy/context.js';
import type { Decision } from './decision.js';
import type { GateDeps } from './gate.js';

/**
 * Secret egress: a custody secret's value (as is, base64, percent-encoded, JSON-escaped) in
 * anything scopegate reads of an agent's request — every header, the request target, and on a
 * guarded host the decoded body — is refused (rule `secret-egress`) and audited under the same
 * name, with the agent, host and the credential's name, never the value. Runs after custody (a
 * real token in the provider's own token header is custody's `real-credential`) and before the
 * gate adds the real token; the webhooks are told too. A policy without credentials costs one
 * size check.
 *
 * `body` is the decoded body on a guarded host; elsewhere the body is streamed, never read, so
 * only the headers and the target are looked at. `reported`: custody let a real token through
 * (credentials_required: false); it is not counted again in its own provider's token headers.
 */
export function secretEgress(
  deps: Pick<GateDeps, 'policy' | 'holds' | 'logger' | 'alert'>,
  ctx: ConnectionContext,
  req: IncomingMessage,
  decisionId: string,
  adapter: ProviderAdapter | null,
  body: Buffer | null = null,
  reported = false,
): { decision: Decision; reason: string } | null {
  const scanner = secretScanner(deps.policy());
  if (scanner.empty) return null;
  const own = reported && adapter?.presentedTokens ? { provider: adapter.name, headers: new Set(adapter.presentedTokens(req.headers).map((t) => t.header.toLowerCase())) } : undefined;
  const hit = findSecret(scanner, { rawHeaders: req.rawHeaders, target: req.url ?? '', body }, own);
  if (!hit) return null;
  // the request line is logged and recorded: not with the secret in it
  if (hit.where === 'request target') req.url = '/[withheld: the request target carried a custody secret]';
  const reason = `the request carries the secret of credential ${hit.credential} (${hit.encoding}) in its ${hit.where}: scopegate holds that token and adds it itself; an agent never sends it; nothing was forwarded`;
  deps.holds?.audit({ at: Date.now(), event: 'secret-egress', decisionId, holdId: null, agent: ctx.agent, host: ctx.target.host, operation: null, actor: ctx.agent, reason, detail: { credential: hit.credential, where: hit.where, encoding: hit.encoding } }, true);
  deps.alert?.({ event: 'secret-egress', decisionId, agent: ctx.agent, host: ctx.target.host, reason, detail: { credential: hit.credential, where: hit.where, encoding: hit.encoding } });
  deps.logger.warn({ decisionId, agent: ctx.agent, host: ctx.target.host, credential: hit.credential, where: hit.where, encoding: hit.encoding }, 'a custody secret on its way out was refused');
  return { decision: { kind: 'deny', stage: adapter ? 'read' : 'egress', rule: 'secret-egress', reason }, reason };
}
