import { Agent, request } from 'undici';
import { errorCode, errorMessage } from '../errors.js';
import type { ProviderAdapter } from '../providers/types.js';

/**
 * The running scopegate's pre-flight API, as `scopegate mcp` calls it: path-form on the proxy
 * listener, with the agent's identity from the environment the MCP server was started with.
 */

/** Who the MCP server acts as: the agent's own tokens, never anyone else's. */
export interface AgentIdentity {
  /** SCOPEGATE_TOKEN: a placeholder or provider token, placed by scopegate where the provider carries it. */
  token: string | null;
  /** SCOPEGATE_PROXY_AUTH: agent:secret, sent as Proxy-Authorization. */
  proxyAuth: string | null;
  /** Per provider, the headers its own variables give (the adapters' agentTokenEnv), when SCOPEGATE_TOKEN is not set. */
  providerHeaders: ReadonlyMap<string, Record<string, string>>;
}

export function identityFromEnv(env: NodeJS.ProcessEnv, providers: Iterable<ProviderAdapter>): AgentIdentity {
  const providerHeaders = new Map<string, Record<string, string>>();
  for (const p of providers) {
    // the first variable set wins: two tokens in two headers is a call the provider's API would not take
    const found = (p.agentTokenEnv ?? []).find((e) => (env[e.variable] ?? '').trim() !== '');
    if (found) providerHeaders.set(p.name, { [found.header]: found.bearer ? `Bearer ${env[found.variable]!.trim()}` : env[found.variable]!.trim() });
  }
  const token = env['SCOPEGATE_TOKEN']?.trim() || null;
  const proxyAuth = env['SCOPEGATE_PROXY_AUTH']?.trim() || null;
  return { token, proxyAuth, providerHeaders };
}

export type ApiResult = { ok: true; status: number; body: Record<string, unknown> } | { ok: false; message: string; status?: number };

/** A failure to reach scopegate, said so an agent (and the person reading over its shoulder) knows what to do. */
function unreachable(base: string, err: unknown): string {
  const code = errorCode(err) ?? (err as { cause?: { code?: string } } | null)?.cause?.code;
  const why = code === 'ECONNREFUSED' ? 'nothing is listening there' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'that host name does not resolve' : code ? `${code}` : errorMessage(err).slice(0, 160);
  return `scopegate is not answering at ${base} (${why}): start it with \`scopegate start\`, or give \`scopegate mcp --proxy URL\` the address scopegate listens on (its --listen). Nothing was checked and nothing was executed.`;
}

export class PreflightClient {
  private readonly dispatcher: Agent;

  constructor(
    /** `http://host:port` of the proxy listener. */
    readonly base: string,
    private readonly identity: AgentIdentity,
    timeoutMs = 30_000,
  ) {
    // its own dispatcher: a global one (the agent's HTTP_PROXY preload) must not route scopegate's own API elsewhere
    this.dispatcher = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 5000) });
  }

  private headers(): Record<string, string> {
    return {
      accept: 'application/json',
      ...(this.identity.proxyAuth ? { 'proxy-authorization': `Basic ${Buffer.from(this.identity.proxyAuth).toString('base64')}` } : {}),
      ...(this.identity.token ? { 'x-scopegate-token': this.identity.token } : {}),
    };
  }

  /** The provider headers a call for `provider` carries when the agent named none: SCOPEGATE_TOKEN goes separately (scopegate places it). */
  callHeaders(provider: string | null): Record<string, string> {
    if (this.identity.token || !provider) return {};
    return this.identity.providerHeaders.get(provider) ?? {};
  }

  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiResult> {
    let res;
    try {
      res = await request(`${this.base}${path}`, {
        dispatcher: this.dispatcher,
        method,
        headers: { ...this.headers(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      return { ok: false, message: unreachable(this.base, err) };
    }
    const text = await res.body.text().catch(() => '');
    if (res.headers['x-scopegate-decision'] === undefined) {
      return { ok: false, status: res.statusCode, message: `the server at ${this.base} answered HTTP ${res.statusCode}, but it is not scopegate (no X-Scopegate-Decision header): give \`scopegate mcp --proxy URL\` the address scopegate listens on (its --listen). Nothing was checked.` };
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // scopegate's own plain answers (407 for an identity it refuses, 403) say what to do themselves
      return { ok: false, status: res.statusCode, message: `scopegate answered HTTP ${res.statusCode}: ${text.trim().replace(/^scopegate: /, '').slice(0, 300)}` };
    }
    if (res.statusCode !== 200) {
      const why = typeof json['error'] === 'string' ? json['error'] : text.slice(0, 300);
      return { ok: false, status: res.statusCode, message: `scopegate answered ${res.statusCode}: ${why}` };
    }
    return { ok: true, status: res.statusCode, body: json };
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}
