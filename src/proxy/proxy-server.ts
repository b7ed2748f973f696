import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../audit/logger.js';
import { newDecisionId } from '../audit/decision-id.js';
import type { Metrics } from '../admin/metrics.js';
import { handleRequest, type GateDeps } from '../gate/gate.js';
import { Recorder } from '../gate/record.js';
import { handleUpgrade } from '../gate/graphql-websocket.js';
import { guardedBy, routeHost, type Policy } from '../policy/policy.js';
import type { LeafCache } from '../tls/leaf-cache.js';
import { InspectionCache } from '../inspect/inspection-cache.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { AnswerStatusMode } from '../providers/types.js';
import { identify } from './identity.js';
import type { BodyLimits } from '../inspect/body.js';
import type { LiveLookups } from '../scope/live-lookups.js';
import type { Holds } from '../holds/holds.js';
import type { HoldHints } from '../gate/decision.js';
import { answerPlain, answerPlainOnSocket, answerProxyAuthRequired } from './answers.js';
import type { ConnectionContext } from './context.js';
import { BadAuthorityError, normaliseHost, parseAuthority, type Authority } from './host.js';
import { Interceptor } from './intercept.js';
import { openTunnel, type TunnelHooks } from './tunnel.js';
import { firstBytesVerdict, type TunnelOrigin } from './tunnel-verdict.js';
import { readFirstBytes } from './first-bytes.js';
import { parseClientHello } from './client-hello.js';
import { DEFAULT_CLIENT_LIMITS, parseErrorStatus, serverOptions, type ClientLimits } from './client-limits.js';
import type { Upstream } from './upstream.js';

export interface ProxyServerOptions {
  policy: () => Policy;
  leafCache: LeafCache;
  upstream: Upstream;
  logger: Logger;
  metrics: Metrics;
  providers: ReadonlyMap<string, ProviderAdapter>;
  answerStatus: AnswerStatusMode;
  bodyLimits?: BodyLimits;
  lookups: LiveLookups;
  lookupTimeoutMs: number;
  holds?: Holds;
  holdTimeoutMs: number;
  holdHints?: HoldHints;
  limits?: ClientLimits;
}

/** A ClientHello's parse, with 'need-more' as the first-bytes reader expects it. */
function parseClientHelloSettled(buf: Buffer): Exclude<ReturnType<typeof parseClientHello>, { kind: 'need-more' }> | 'need-more' {
  const hello = parseClientHello(buf);
  return hello.kind === 'need-more' ? 'need-more' : hello;
}

/** Counts requests in flight so shutdown knows when it may stop waiting. */
class Inflight {
  private count = 0;
  private waiters: (() => void)[] = [];
  add(): void {
    this.count++;
  }
  done(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  get size(): number {
    return this.count;
  }
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/**
 * The explicit proxy listener (`--listen`): CONNECT for HTTPS — intercepted for guarded hosts,
 * tunnelled for the rest as egress allows — and absolute-form requests for plain HTTP.
 */
export class ProxyServer {
  private readonly server: Server;
  private readonly interceptor: Interceptor;
  private readonly sockets = new Set<Duplex>();
  private readonly inflight = new Inflight();
  private readonly deps: GateDeps;
  private closing = false;
  private transparentServer: NetServer | null = null;

  constructor(private readonly options: ProxyServerOptions) {
    this.deps = {
      upstream: options.upstream,
      logger: options.logger,
      recorder: new Recorder(options.logger, options.metrics, options.holds),
      inflight: this.inflight,
      policy: options.policy,
      providers: options.providers,
      inspections: new InspectionCache(),
      answerStatus: options.answerStatus,
      lookups: options.lookups,
      lookupTimeoutMs: options.lookupTimeoutMs,
      holdTimeoutMs: options.holdTimeoutMs,
      ...(options.holds ? { holds: options.holds } : {}),
      ...(options.holdHints ? { holdHints: options.holdHints } : {}),
      ...(options.bodyLimits ? { bodyLimits: options.bodyLimits } : {}),
      clientLimits: options.limits ?? DEFAULT_CLIENT_LIMITS,
    };
    this.interceptor = new Interceptor({
      leafCache: options.leafCache,
      handler: (ctx, req, res) => void handleRequest(this.deps, ctx, req, res),
      upgrade: (ctx, req, socket, head) => handleUpgrade(this.deps, ctx, req, socket, head),
      onRejected: (ctx, reason) =>
        options.logger.warn({ connectionId: ctx.connectionId, host: ctx.target.host, agent: ctx.agent, reason }, 'interception refused'),
      track: (s) => this.track(s),
      ...(options.limits ? { limits: options.limits } : {}),
    });
    this.server = createServer(serverOptions(options.limits ?? DEFAULT_CLIENT_LIMITS));
    this.server.on('connection', (s: Socket) => {
      s.setNoDelay(true);
      this.track(s);
      options.metrics.openConnections.inc();
      s.once('close', () => options.metrics.openConnections.dec());
    });
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onConnect(req, socket, head));
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onAbsoluteForm(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code !== 'ECONNRESET') options.logger.debug({ code: err.code }, 'malformed request on the proxy listener');
      answerPlainOnSocket(socket, parseErrorStatus(err.code), null, `malformed request (${err.code ?? 'error'})`);
    });
  }

  private track(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  /**
   * The transparent listener: connections the network redirected here (iptables/nftables
   * REDIRECT or DNAT of outbound 443). The host comes from the ClientHello's SNI; a hello without
   * one is refused. Guarded hosts are intercepted as over CONNECT; others are tunnelled to the
   * SNI name (as resolved, or --route), on port 443.
   */
  listenTransparent(host: string, port: number): Promise<AddressInfo> {
    const server = createNetServer((socket) => this.onTransparent(socket));
    this.transparentServer = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  private onTransparent(socket: Socket): void {
    const log = this.options.logger;
    this.track(socket);
    socket.setNoDelay(true);
    this.options.metrics.openConnections.inc();
    socket.once('close', () => this.options.metrics.openConnections.dec());
    socket.on('error', () => socket.destroy());
    if (this.closing) {
      socket.destroy();
      return;
    }
    const decisionId = newDecisionId();
    const refuse = (reason: string): void => {
      log.info({ decisionId, via: 'transparent', client: socket.remoteAddress, decision: 'deny', rule: 'transparent', reason }, 'connect');
      socket.destroy();
    };
    const timer = setTimeout(() => refuse('no TLS ClientHello within 10 s'), 10_000);
    readFirstBytes(socket, Buffer.alloc(0), parseClientHelloSettled, (hello, buf) => {
      clearTimeout(timer);
      if (hello === 'too-long') return refuse('the ClientHello did not end within 16 KiB');
      if (hello.kind === 'not-tls') return refuse('the transparent listener takes TLS only');
      if (hello.kind === 'malformed') return refuse(`a malformed TLS ClientHello (${hello.reason})`);
      if (hello.sni === null) return refuse('a TLS ClientHello without a server name (SNI): the host it is for cannot be known; the transparent listener needs SNI (a client that connects by address must use the proxy, --listen, instead)');
      const name = normaliseHost(hello.sni);
      if (name === null) return refuse('a TLS server name that is not a host name');
      const route = routeHost(this.options.policy(), name);
      if (route.kind === 'intercept') {
        const ctx = this.context('transparent', { host: name, port: 443 }, 'https', route.provider.name, socket, 'anonymous');
        this.interceptor.accept(socket, ctx, buf);
        return;
      }
      if (route.kind === 'refuse') {
        this.options.metrics.tunnels.inc({ result: 'refused' });
        return refuse(route.reason);
      }
      openTunnel(
        socket,
        buf,
        this.options.upstream.tunnelTarget(name, 443),
        decisionId,
        // the SNI is already read: what follows is relayed as it is
        this.tunnelHooks({ decisionId, agent: 'anonymous', via: 'transparent', host: name, port: 443, inspectFirst: () => 'relay', intercept: (client) => client.destroy() }),
        10_000,
        true,
      );
    });
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

  private context(via: ConnectionContext['via'], target: Authority, scheme: 'http' | 'https', provider: string | null, socket: Duplex, agent: string): ConnectionContext {
    return {
      connectionId: randomBytes(4).toString('hex'),
      clientAddress: (socket as Socket).remoteAddress ?? '',
      via,
      target,
      scheme,
      provider,
      agent,
    };
  }

  private onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const log = this.options.logger;
    socket.on('error', () => socket.destroy());
    if (this.closing) {
      answerPlainOnSocket(socket, 503, null, 'scopegate is shutting down');
      return;
    }
    let target: Authority;
    try {
      target = parseAuthority(req.url ?? '');
    } catch (err) {
      const reason = err instanceof BadAuthorityError ? err.message : 'bad CONNECT target';
      log.info({ decision: 'deny', rule: 'bad-request', reason }, 'connect');
      answerPlainOnSocket(socket, 400, null, reason);
      return;
    }
    const policy = this.options.policy();
    const decisionId = newDecisionId();
    const who = identify(policy, req.headers['proxy-authorization']);
    if (!who.ok) {
      log.info({ decisionId, via: 'connect', host: target.host, port: target.port, status: 407, decision: 'deny', rule: 'identity', reason: who.reason }, 'connect');
      answerProxyAuthRequired(socket, decisionId, who.reason);
      return;
    }
    const agent = who.agent;
    const route = routeHost(policy, target.host);
    if (route.kind === 'intercept') {
      // guarded: judged request by request inside
      const ctx = this.context('connect', target, 'https', route.provider.name, socket, agent);
      log.debug({ connectionId: ctx.connectionId, host: target.host, port: target.port, provider: route.provider.name }, 'intercepting');
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      this.interceptor.accept(socket, ctx, head);
      return;
    }
    if (route.kind === 'refuse') {
      this.options.metrics.tunnels.inc({ result: 'refused' });
      log.info({ decisionId, agent, via: 'connect', host: target.host, port: target.port, status: 403, decision: 'deny', rule: 'egress', reason: route.reason }, 'connect');
      answerPlainOnSocket(socket, 403, decisionId, route.reason);
      return;
    }
    const destination = this.options.upstream.tunnelTarget(target.host, target.port);
    const origin: TunnelOrigin = { host: target.host, port: target.port, tunnelTarget: (name, port) => this.options.upstream.tunnelTarget(name, port) };
    openTunnel(
      socket,
      head,
      destination,
      decisionId,
      this.tunnelHooks({
        decisionId,
        agent,
        via: 'connect',
        host: target.host,
        port: target.port,
        inspectFirst: (buf) => firstBytesVerdict(this.options.policy(), origin, buf),
        intercept: (client, host, first) => {
          const provider = guardedBy(this.options.policy(), host)!;
          // judged and forwarded as the guarded host's HTTPS API, wherever the tunnel pointed
          const ctx = this.context('connect', { host, port: 443 }, 'https', provider.name, client, agent);
          log.warn({ decisionId, connectionId: ctx.connectionId, agent, connectTarget: target.host, sni: host }, 'a tunnel to a host that is not guarded carries TLS for a guarded one: intercepting it as that host');
          this.interceptor.accept(client, ctx, first);
        },
      }),
    );
  }

  /** Metrics and the one log line of a tunnel, the same for CONNECT and transparent ones. */
  private tunnelHooks(t: { decisionId: string; agent: string; via: ConnectionContext['via']; host: string; port: number; inspectFirst: TunnelHooks['inspectFirst']; intercept: TunnelHooks['intercept'] }): TunnelHooks {
    const started = Date.now();
    const { metrics, logger } = this.options;
    return {
      track: (s) => this.track(s),
      onOpen: () => metrics.openTunnels.inc(),
      inspectFirst: t.inspectFirst,
      intercept: t.intercept,
      onClose: (r) => {
        if (r.established) metrics.openTunnels.dec();
        metrics.tunnels.inc({ result: r.interceptedAs ? 'intercepted' : r.refused ? 'refused' : r.established ? 'tunnelled' : 'failed' });
        logger.info(
          {
            decisionId: t.decisionId,
            agent: t.agent,
            via: t.via,
            host: t.host,
            port: t.port,
            decision: r.interceptedAs ? 'intercept' : r.error && r.established ? 'deny' : 'tunnel',
            rule: 'egress',
            bytesUp: r.bytesUp,
            bytesDown: r.bytesDown,
            durationMs: Date.now() - started,
            ...(r.interceptedAs ? { interceptedAs: r.interceptedAs } : {}),
            ...(r.error ? { error: r.error } : {}),
          },
          'tunnel',
        );
      },
    };
  }

  /** `GET http://host/path` — plain HTTP through the proxy, under the same egress and guard rules. */
  private onAbsoluteForm(req: IncomingMessage, res: ServerResponse): void {
    const decisionId = newDecisionId();
    const url = req.url ?? '';
    const m = /^(https?):\/\/([^/?#]*)/i.exec(url);
    if (!m) {
      answerPlain(res, 400, decisionId, 'this is a proxy: send CONNECT host:port for HTTPS, or an absolute URL (GET http://host/path) for plain HTTP');
      return;
    }
    const scheme = m[1]!.toLowerCase() as 'http' | 'https';
    let target: Authority;
    try {
      target = parseAuthority(m[2]!, scheme === 'https' ? 443 : 80);
    } catch (err) {
      answerPlain(res, 400, decisionId, err instanceof BadAuthorityError ? err.message : 'bad URL');
      return;
    }
    const policy = this.options.policy();
    const who = identify(policy, req.headers['proxy-authorization']);
    if (!who.ok) {
      this.options.logger.info({ decisionId, via: 'absolute-form', host: target.host, port: target.port, method: req.method, status: 407, decision: 'deny', rule: 'identity', reason: who.reason }, 'request');
      res.setHeader('proxy-authenticate', 'Basic realm="scopegate"');
      answerPlain(res, 407, decisionId, who.reason);
      return;
    }
    const route = routeHost(policy, target.host);
    if (route.kind === 'refuse') {
      this.options.metrics.requests.inc({ host: 'other', method: req.method ?? '', decision: 'deny' });
      this.options.logger.info({ decisionId, agent: who.agent, via: 'absolute-form', host: target.host, port: target.port, method: req.method, status: 403, decision: 'deny', rule: 'egress', reason: route.reason }, 'request');
      answerPlain(res, 403, decisionId, route.reason);
      return;
    }
    // the pipeline forwards origin-form: strip scheme and authority from the URL
    req.url = url.slice(m[0].length) || '/';
    if (!req.url.startsWith('/')) req.url = `/${req.url}`;
    const ctx = this.context('absolute-form', target, scheme, route.kind === 'intercept' ? route.provider.name : null, req.socket, who.agent);
    void handleRequest(this.deps, ctx, req, res);
  }

  /**
   * Stop accepting, let requests in flight finish for up to `graceMs`, then close every
   * connection that is left (idle keep-alives, tunnels).
   */
  async shutdown(graceMs: number): Promise<{ unfinished: number }> {
    this.closing = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    const transparentClosed = this.transparentServer ? new Promise<void>((r) => this.transparentServer!.close(() => r())) : Promise.resolve();
    this.server.closeIdleConnections();
    this.interceptor.closeIdle();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.inflight.idle().then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    const unfinished = gaveUp ? this.inflight.size : 0;
    // end() lets answers already written drain; whatever has not closed a moment later is cut
    for (const s of this.sockets) s.end();
    await new Promise((r) => setTimeout(r, this.sockets.size > 0 ? 300 : 0));
    for (const s of this.sockets) s.destroy();
    await closed;
    await transparentClosed;
    return { unfinished };
  }
}
