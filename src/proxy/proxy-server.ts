import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../audit/logger.js';
import { newDecisionId } from '../audit/decision-id.js';
import type { Metrics } from '../admin/metrics.js';
import type { LeafCache } from '../tls/leaf-cache.js';
import { answerPlain, answerPlainOnSocket, answerProxyAuthRequired } from './answers.js';
import type { ConnectionContext } from './context.js';
import type { Gatekeeper, TunnelOrigin } from './gatekeeper.js';
import { BadAuthorityError } from '../errors.js';
import { normaliseHost, parseAuthority, type Authority } from '../net/host.js';
import { Interceptor } from './intercept.js';
import { relayUpgrade } from './upgrade-relay.js';
import { openTunnel, type TunnelHooks } from './tunnel.js';
import { readFirstBytes } from './first-bytes.js';
import { parseClientHello } from '../net/client-hello.js';
import { DEFAULT_CLIENT_LIMITS, parseErrorStatus, serverOptions, type ClientLimits } from './client-limits.js';
import type { Upstream } from './upstream.js';

/** What the transport is built from: sockets and TLS on one side, the gate behind one interface on the other. */
export interface ProxyServerOptions {
  gate: Gatekeeper;
  leafCache: LeafCache;
  /** Where tunnels connect (routes) and what plain requests are forwarded through. */
  upstream: Upstream;
  /** The transport's own lines (malformed requests, refused interceptions); decisions go to the gate. */
  logger: Logger;
  /** Open connections and tunnels (gauges); decision metrics are the gate's. */
  metrics: Metrics;
  limits?: ClientLimits;
}

const TLS_HANDSHAKE = 0x16;

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
  private closing = false;
  private transparentServer: NetServer | null = null;

  constructor(private readonly options: ProxyServerOptions) {
    this.interceptor = new Interceptor({
      leafCache: options.leafCache,
      handler: (ctx, req, res) => this.handle(ctx, req, res),
      upgrade: (ctx, req, socket, head) => {
        // scopegate's own API speaks plain request and answer: nothing to upgrade to, nowhere to relay
        if (ctx.own) return answerPlainOnSocket(socket, 404, null, 'scopegate\'s own API takes no Upgrade requests');
        return ctx.provider ? options.gate.handleUpgrade(ctx, req, socket, head) : relayUpgrade(options.upstream, ctx, req, socket, head, options.logger);
      },
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

  /** Made once: the gate calls it when a request has fully finished. */
  private readonly requestDone = (): void => this.inflight.done();

  /** A request, counted while in flight so shutdown can let it finish; scopegate's own API or the gate. */
  private handle(ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse): void {
    this.inflight.add();
    if (ctx.own) this.options.gate.handleOwn(ctx, req, res, this.requestDone);
    else this.options.gate.handleRequest(ctx, req, res, this.requestDone);
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
    this.track(socket);
    socket.setNoDelay(true);
    this.options.metrics.openConnections.inc();
    socket.once('close', () => this.options.metrics.openConnections.dec());
    socket.on('error', () => socket.destroy());
    if (this.closing) {
      socket.destroy();
      return;
    }
    const client = socket.remoteAddress ?? null;
    const refuse = (reason: string, decisionId: string = newDecisionId()): void => {
      this.options.gate.recordConnection({ msg: 'connect', decisionId, via: 'transparent', agent: null, client, host: null, port: null, status: null, decision: 'deny', rule: 'transparent', reason });
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
      const target = { host: name, port: 443 };
      // the network chose this listener, so no Proxy-Authorization exists: the caller is anonymous
      const admission = this.options.gate.admit('transparent', target, undefined, client);
      if (admission.kind === 'refuse') {
        socket.destroy();
        return;
      }
      if (admission.kind === 'intercept' || admission.kind === 'own') {
        const provider = admission.kind === 'intercept' ? admission.provider : null;
        this.interceptor.accept(socket, this.context('transparent', target, 'https', provider, socket, admission.agent, admission.kind === 'own'), buf);
        return;
      }
      openTunnel(
        socket,
        buf,
        this.options.upstream.tunnelTarget(name, 443),
        admission.decisionId,
        // the SNI is already read: what follows is relayed as it is
        this.tunnelHooks({ decisionId: admission.decisionId, agent: admission.agent, via: 'transparent', client, host: name, port: 443, inspectFirst: () => 'relay', intercept: (c) => c.destroy(), readHttp: (c) => c.destroy() }),
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

  private context(via: ConnectionContext['via'], target: Authority, scheme: 'http' | 'https', provider: string | null, socket: Duplex, agent: string, own = false): ConnectionContext {
    return {
      connectionId: randomBytes(4).toString('hex'),
      clientAddress: (socket as Socket).remoteAddress ?? '',
      via,
      target,
      scheme,
      provider,
      agent,
      ...(own ? { own: true as const } : {}),
    };
  }

  private onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.closing) {
      answerPlainOnSocket(socket, 503, null, 'scopegate is shutting down');
      return;
    }
    const client = (socket as Socket).remoteAddress ?? null;
    let target: Authority;
    try {
      target = parseAuthority(req.url ?? '');
    } catch (err) {
      const reason = err instanceof BadAuthorityError ? err.message : 'bad CONNECT target';
      this.options.gate.recordConnection({ msg: 'connect', decisionId: null, via: 'connect', agent: null, client, host: null, port: null, status: 400, decision: 'deny', rule: 'bad-request', reason });
      answerPlainOnSocket(socket, 400, null, reason);
      return;
    }
    const admission = this.options.gate.admit('connect', target, req.headers['proxy-authorization'], client);
    if (admission.kind === 'refuse') {
      if (admission.status === 407) answerProxyAuthRequired(socket, admission.decisionId, admission.reason);
      else answerPlainOnSocket(socket, admission.status, admission.decisionId, admission.reason);
      return;
    }
    const { agent, decisionId } = admission;
    if (admission.kind === 'own') {
      // scopegate's own host: TLS terminated with a leaf from the local CA, or cleartext HTTP (clients
      // that tunnel http:// URLs too); either way every request is answered here, none relayed
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      const take = (first: Buffer): void => {
        if (first[0] === TLS_HANDSHAKE) this.interceptor.accept(socket, this.context('connect', target, 'https', null, socket, agent, true), first);
        else this.interceptor.acceptCleartext(socket, this.context('connect', target, 'http', null, socket, agent, true), first);
      };
      if (head.length > 0) take(head);
      else
        socket.once('data', (chunk: Buffer) => {
          socket.pause();
          take(chunk);
        });
      return;
    }
    if (admission.kind === 'intercept') {
      // guarded: judged request by request inside
      const ctx = this.context('connect', target, 'https', admission.provider, socket, agent);
      this.options.logger.debug({ connectionId: ctx.connectionId, host: target.host, port: target.port, provider: admission.provider }, 'intercepting');
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      this.interceptor.accept(socket, ctx, head);
      return;
    }
    const origin: TunnelOrigin = { host: target.host, port: target.port, tunnelTarget: (name, port) => this.options.upstream.tunnelTarget(name, port) };
    openTunnel(
      socket,
      head,
      this.options.upstream.tunnelTarget(target.host, target.port),
      decisionId,
      this.tunnelHooks({
        decisionId,
        agent,
        via: 'connect',
        client,
        host: target.host,
        port: target.port,
        inspectFirst: (buf) => this.options.gate.firstBytes(origin, buf),
        intercept: (c, host, first) => {
          const provider = this.options.gate.guarding(host);
          if (!provider) {
            c.destroy();
            return;
          }
          // judged and forwarded as the guarded host's HTTPS API, wherever the tunnel pointed
          const ctx = this.context('connect', { host, port: 443 }, 'https', provider, c, agent);
          this.options.logger.warn({ decisionId, connectionId: ctx.connectionId, agent, connectTarget: target.host, sni: host }, 'a tunnel to a host that is not guarded carries TLS for a guarded one: intercepting it as that host');
          this.interceptor.accept(c, ctx, first);
        },
        // cleartext HTTP for the target itself: every request is read, so none can name another host
        readHttp: (c, first) => this.interceptor.acceptCleartext(c, this.context('connect', target, 'http', null, c, agent), first),
      }),
    );
  }

  /** The open-tunnel gauge and the one record of a tunnel, the same for CONNECT and transparent ones. */
  private tunnelHooks(t: { decisionId: string; agent: string; via: ConnectionContext['via']; client: string | null; host: string; port: number; inspectFirst: TunnelHooks['inspectFirst']; intercept: TunnelHooks['intercept']; readHttp: TunnelHooks['readHttp'] }): TunnelHooks {
    const started = Date.now();
    const { metrics, gate } = this.options;
    return {
      track: (s) => this.track(s),
      onOpen: () => metrics.openTunnels.inc(),
      inspectFirst: t.inspectFirst,
      intercept: t.intercept,
      readHttp: t.readHttp,
      onClose: (r) => {
        if (r.established) metrics.openTunnels.dec();
        gate.recordConnection({
          msg: 'tunnel',
          decisionId: t.decisionId,
          via: t.via,
          agent: t.agent,
          client: t.client,
          host: t.host,
          port: t.port,
          status: null,
          decision: r.interceptedAs ? 'intercept' : r.error && r.established ? 'deny' : 'tunnel',
          rule: 'egress',
          result: r.interceptedAs ? 'intercepted' : r.refused ? 'refused' : r.established ? 'tunnelled' : 'failed',
          ...(r.readAsHttp ? { reason: 'cleartext HTTP for the tunnel\'s own host: from here on every request on it is read and checked' } : {}),
          bytesUp: r.bytesUp,
          bytesDown: r.bytesDown,
          durationMs: Date.now() - started,
          ...(r.interceptedAs ? { interceptedAs: r.interceptedAs } : {}),
          ...(r.error ? { error: r.error } : {}),
        });
      },
    };
  }

  /**
   * `GET http://host/path` — plain HTTP through the proxy, under the same egress and guard rules;
   * `POST /v1/check` — a path-form request is for scopegate itself (its pre-flight API).
   */
  private onAbsoluteForm(req: IncomingMessage, res: ServerResponse): void {
    const decisionId = newDecisionId();
    const url = req.url ?? '';
    if (url.startsWith('/')) {
      this.onPathForm(req, res);
      return;
    }
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
    const admission = this.options.gate.admit('absolute-form', target, req.headers['proxy-authorization'], req.socket.remoteAddress ?? null, { method: req.method ?? '', path: url });
    if (admission.kind === 'refuse') {
      if (admission.status === 407) res.setHeader('proxy-authenticate', 'Basic realm="scopegate"');
      answerPlain(res, admission.status, admission.decisionId, admission.reason);
      return;
    }
    // the gate forwards origin-form: strip scheme and authority from the URL
    req.url = url.slice(m[0].length) || '/';
    if (!req.url.startsWith('/')) req.url = `/${req.url}`;
    this.handle(this.context('absolute-form', target, scheme, admission.kind === 'intercept' ? admission.provider : null, req.socket, admission.agent, admission.kind === 'own'), req, res);
  }

  /** A path-form request on the listener: scopegate's own API, the caller identified as on every door. */
  private onPathForm(req: IncomingMessage, res: ServerResponse): void {
    const local = req.socket.localAddress ?? '127.0.0.1';
    const target: Authority = { host: local.startsWith('::ffff:') ? local.slice(7) : local, port: req.socket.localPort ?? 0 };
    const admission = this.options.gate.admit('direct', target, req.headers['proxy-authorization'], req.socket.remoteAddress ?? null, { method: req.method ?? '', path: req.url ?? '' });
    if (admission.kind === 'refuse') {
      if (admission.status === 407) res.setHeader('proxy-authenticate', 'Basic realm="scopegate"');
      answerPlain(res, admission.status, admission.decisionId, admission.reason);
      return;
    }
    this.handle(this.context('direct', target, 'http', null, req.socket, admission.agent, true), req, res);
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
