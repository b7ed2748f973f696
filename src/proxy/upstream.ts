import { createSecureContext, rootCertificates } from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { normaliseHost } from '../net/host.js';

/** Where a host really connects: `--route HOST=ADDR:PORT`. */
export interface Route {
  address: string;
  port: number;
}

export interface UpstreamOptions {
  routes?: ReadonlyMap<string, Route>;
  /** PEM of extra CAs trusted on top of the system roots (`--upstream-ca`). */
  extraCa?: string;
  connectTimeoutMs?: number;
  /** Time to the response's headers. */
  headersTimeoutMs?: number;
  /** Longest silence while the body streams. */
  bodyTimeoutMs?: number;
}

/**
 * The upstream side: one undici Agent (a pool per origin inside it), TLS verified against the
 * system roots plus any `--upstream-ca`, and `--route` applied at connect time so that SNI and the
 * certificate check still use the host the client asked for.
 */
export class Upstream {
  readonly agent: Agent;
  readonly ca: string[];
  private readonly routes: ReadonlyMap<string, Route>;

  constructor(options: UpstreamOptions = {}) {
    this.routes = options.routes ?? new Map();
    this.ca = [...rootCertificates, ...(options.extraCa ? [options.extraCa] : [])];
    const connectTimeout = options.connectTimeoutMs ?? 10_000;
    // one context for every upstream connection: passing `ca` per connection would parse the
    // whole root store again for each new TLS connection
    const secureContext = createSecureContext({ ca: this.ca });
    const base = buildConnector({ secureContext, timeout: connectTimeout, rejectUnauthorized: true } as buildConnector.BuildOptions);
    const routes = this.routes;
    const connect: buildConnector.connector = (opts, callback) => {
      const host = normaliseHost(opts.hostname) ?? opts.hostname;
      const route = routes.get(host);
      if (!route) return base(opts, callback);
      return base(
        {
          ...opts,
          hostname: route.address,
          port: String(route.port),
          // the certificate must still be the named host's, not the route address's
          servername: opts.protocol === 'https:' ? host : opts.servername,
        },
        callback,
      );
    };
    this.agent = new Agent({
      connect,
      headersTimeout: options.headersTimeoutMs ?? 60_000,
      bodyTimeout: options.bodyTimeoutMs ?? 120_000,
      keepAliveTimeout: 30_000,
      connections: 64,
    });
  }

  /** Where a byte tunnel to host:port really goes. */
  tunnelTarget(host: string, port: number): { host: string; port: number } {
    const route = this.routes.get(host);
    return route ? { host: route.address, port: route.port } : { host, port };
  }

  request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    return this.agent.request(options);
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.agent.dispatch(options, handler);
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  destroy(): Promise<void> {
    return this.agent.destroy();
  }
}

/** How an upstream failure is told to the agent: 502 or 504 and a reason naming what failed. */
export function describeUpstreamError(err: unknown, origin: string): { status: 502 | 504; reason: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? '';
  const causeCode = e.cause?.code ?? '';
  const codes = `${code} ${causeCode}`;
  if (/UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|ETIMEDOUT/.test(codes)) {
    return { status: 504, reason: `upstream ${origin} did not answer in time (${code || causeCode})` };
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|HOSTNAME|ALTNAME|EPROTO|ERR_SSL/.test(codes)) {
    return {
      status: 502,
      reason: `upstream ${origin} presented a certificate scopegate does not trust (${code || causeCode}); nothing was forwarded. If this is a private CA, pass it with --upstream-ca`,
    };
  }
  if (/ECONNREFUSED/.test(codes)) return { status: 502, reason: `upstream ${origin} refused the connection` };
  if (/ENOTFOUND|EAI_AGAIN/.test(codes)) return { status: 502, reason: `upstream ${origin} could not be resolved (DNS)` };
  if (/ECONNRESET|UND_ERR_SOCKET|EPIPE/.test(codes)) return { status: 502, reason: `upstream ${origin} closed the connection before answering` };
  return { status: 502, reason: `upstream ${origin} failed: ${code || causeCode || 'unknown error'}` };
}
