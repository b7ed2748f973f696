import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../audit/logger.js';
import type { Metrics } from './metrics.js';
import { bearerFrom, tokenMatches } from './token.js';

export interface AdminServerOptions {
  token: string;
  metrics: Metrics;
  logger: Logger;
  /** Whether the proxy listeners are up; /healthz answers 503 until they are. */
  ready: () => boolean;
}

interface Route {
  methods: readonly string[];
  auth: boolean;
  handle: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, extra);
}

/** Admin API, health and metrics. Plain HTTP on loopback by default; bearer token on all but /healthz. */
export class AdminServer {
  private readonly server: Server;
  private readonly routes = new Map<string, Route>();

  constructor(private readonly options: AdminServerOptions) {
    this.routes.set('/healthz', {
      methods: ['GET', 'HEAD'],
      auth: false,
      handle: (_req, res) => (options.ready() ? sendJson(res, 200, { status: 'ok' }) : sendJson(res, 503, { status: 'starting' })),
    });
    this.routes.set('/metrics', {
      methods: ['GET'],
      auth: true,
      handle: async (_req, res) => send(res, 200, options.metrics.registry.contentType, await options.metrics.registry.metrics()),
    });
    this.server = createServer((req, res) => void this.dispatch(req, res));
    this.server.keepAliveTimeout = 5_000;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = this.routes.get(path);
    // authenticate before saying whether a route exists: an unauthenticated caller learns nothing
    if (route?.auth !== false && !tokenMatches(this.options.token, bearerFrom(req.headers.authorization))) {
      sendJson(res, 401, { error: 'unauthorized', message: 'send Authorization: Bearer <admin token> (see the admin-token file in --data-dir)' }, { 'www-authenticate': 'Bearer realm="scopegate"' });
      return;
    }
    if (!route) {
      sendJson(res, 404, { error: 'not_found', message: `no admin route ${path}` });
      return;
    }
    if (!route.methods.includes(req.method ?? '')) {
      sendJson(res, 405, { error: 'method_not_allowed', message: `${path} takes ${route.methods.join(', ')}` }, { allow: route.methods.join(', ') });
      return;
    }
    try {
      await route.handle(req, res);
    } catch (err) {
      this.options.logger.error({ path, err: { message: (err as Error).message } }, 'admin route failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: 'the admin route failed; see scopegate log' });
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
