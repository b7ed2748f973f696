import { request } from 'undici';
import type { Logger } from '../audit/logger.js';
import type { Hold } from './store-types.js';
import { errorCode, errorMessage } from '../errors.js';
import { describeScope, type Scope } from '../scope/scope.js';

export interface Webhook {
  url: string;
  format: 'json' | 'slack';
}

export interface NotifyOptions {
  webhooks: readonly Webhook[];
  logger: Logger;
  /** Where a person approves, for the message. */
  pageUrl: string;
  /** Attempts per webhook, with exponential backoff from `firstDelayMs`. */
  attempts?: number;
  firstDelayMs?: number;
  timeoutMs?: number;
}

/** A webhook URL can itself be a secret (Slack's are): only its host is ever logged. */
const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return '(bad url)';
  }
};

function payload(h: Hold, format: Webhook['format'], pageUrl: string): unknown {
  const where = describeScope(h.scope as unknown as Scope);
  const target = h.target ? ` on ${h.target.type} ${h.target.id}` : '';
  if (format === 'slack') {
    return {
      text: `scopegate is holding ${h.operation}${target} from agent ${h.agent} (${where}); rule ${h.rule}. Approve: \`scopegate holds approve ${h.id}\` or ${pageUrl}`,
    };
  }
  return {
    event: 'hold',
    hold: { id: h.id, decisionId: h.decisionId, agent: h.agent, host: h.host, operation: h.operation, target: h.target, rule: h.rule, reason: h.reason, scope: h.scope, scopeText: where, createdAt: new Date(h.createdAt).toISOString(), expiresAt: new Date(h.expiresAt).toISOString() },
    approve: `scopegate holds approve ${h.id}`,
    page: pageUrl,
  };
}

/** Something a person must know that is not a hold: a real provider token in an agent's hands, a secret on its way out. */
export interface Alert {
  event: 'real-credential-seen' | 'secret-egress';
  decisionId: string;
  agent: string;
  host: string;
  /** What happened and what to do, in words; never a secret. */
  reason: string;
  detail: Record<string, unknown>;
}

function alertPayload(a: Alert, format: Webhook['format']): unknown {
  if (format === 'slack') return { text: `scopegate: ${a.event} from agent ${a.agent} on ${a.host}: ${a.reason}` };
  return { event: a.event, alert: { ...a, at: new Date().toISOString() } };
}

/**
 * Tell people about a new hold. Runs on its own: the held call never waits for a webhook, a dead
 * receiver is retried with backoff and then given up on, and a failure is logged once.
 */
export function notifier(options: NotifyOptions): (h: Hold) => void {
  return (h) => deliver(options, (format) => payload(h, format, options.pageUrl), { holdId: h.id });
}

/** Tell the same webhooks about an alert, delivered the same way as holds. */
export function alerter(options: NotifyOptions): (a: Alert) => void {
  return (a) => deliver(options, (format) => alertPayload(a, format), { decisionId: a.decisionId, event: a.event });
}

function deliver(options: NotifyOptions, body: (format: Webhook['format']) => unknown, about: Record<string, unknown>): void {
  const attempts = options.attempts ?? 5;
  const first = options.firstDelayMs ?? 1000;
  const timeout = options.timeoutMs ?? 5000;
  for (const hook of options.webhooks) {
    void (async () => {
      let last = '';
      for (let i = 0; i < attempts; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, first * 2 ** (i - 1)).unref());
        try {
          const res = await request(hook.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'scopegate-notify' },
            body: JSON.stringify(body(hook.format)),
            headersTimeout: timeout,
            bodyTimeout: timeout,
            signal: AbortSignal.timeout(timeout),
          });
          await res.body.dump();
          if (res.statusCode < 300) return;
          last = `HTTP ${res.statusCode}`;
        } catch (err) {
          last = errorCode(err) ?? errorMessage(err);
        }
      }
      options.logger.warn({ ...about, webhook: hostOf(hook.url), attempts, error: last }, 'notification not delivered');
    })();
  }
}

