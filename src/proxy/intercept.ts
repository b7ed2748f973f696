import { errorMessage } from '../errors.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { LeafCache } from '../tls/leaf-cache.js';
import { answerPlainOnSocket } from './answers.js';
import { DEFAULT_CLIENT_LIMITS, parseErrorStatus, serverOptions, type ClientLimits } from './client-limits.js';
import type { ConnectionContext } from './context.js';

export type RequestHandler = (ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (ctx: ConnectionContext, req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface InterceptorOptions {
  leafCache: LeafCache;
  handler: RequestHandler;
  /** WebSocket (and any other Upgrade) requests on an intercepted connection. */
  upgrade: UpgradeHandler;
  /** Called once per connection that could not be intercepted (handshake refused, not TLS). */
  onRejected: (ctx: ConnectionContext, reason: string) => void;
  track: (s: Duplex) => void;
  limits?: ClientLimits;
}

const TLS_HANDSHAKE = 0x16;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/**
 * Terminates TLS for guarded hosts with a leaf minted for the connection's target, and hands the
 * decrypted connection to an HTTP server that never listens: it only parses the requests, which
 * then run through the pipeline with the connection's context.
 */
export class Interceptor {
  private readonly server: Server;
  private readonly contexts = new WeakMap<object, ConnectionContext>();
  private readonly deadlines = new WeakMap<object, NodeJS.Timeout>();
  /** Requests on a connection whose answers are not finished (pipelining can make it more than one). */
  private readonly busy = new WeakMap<object, number>();
  private readonly limits: ClientLimits;

  /**
   * Node enforces headersTimeout and keepAliveTimeout only on servers that listen, and this one
   * never does: each intercepted connection gets its own deadline for its next request's headers.
   */
  private deadline(socket: Duplex, ms: number | null): void {
    clearTimeout(this.deadlines.get(socket));
    if (ms === null || socket.destroyed) return;
    const t = setTimeout(() => {
      if (socket.destroyed) return;
      answerPlainOnSocket(socket, 408, null, 'the request headers did not arrive in time');
      setTimeout(() => socket.destroy(), 100).unref();
    }, ms);
    t.unref();
    this.deadlines.set(socket, t);
  }

  constructor(private readonly options: InterceptorOptions) {
    this.limits = options.limits ?? DEFAULT_CLIENT_LIMITS;
    const limits = options.limits ?? DEFAULT_CLIENT_LIMITS;
    this.server = createServer(serverOptions(limits), (req, res) => {
      const ctx = this.contexts.get(req.socket);
      if (!ctx) {
        res.destroy();
        return;
      }
      // headers are in: the header deadline stops; the next one starts when no answer is pending
      const sock = req.socket;
      this.deadline(sock, null);
      this.busy.set(sock, (this.busy.get(sock) ?? 0) + 1);
      res.once('close', () => {
        const n = (this.busy.get(sock) ?? 1) - 1;
        this.busy.set(sock, n);
        if (n === 0) this.deadline(sock, limits.idleTimeoutMs);
      });
      options.handler(ctx, req, res);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const ctx = this.contexts.get(socket);
      if (!ctx) {
        socket.destroy();
        return;
      }
      options.upgrade(ctx, req, socket, head);
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const ctx = this.contexts.get(socket);
      if (ctx && !/ECONNRESET|EPIPE/.test(err.code ?? '')) options.onRejected(ctx, describeClientError(err));
      // a request the parser refused is answered (and the connection closed), never passed on
      if (socket.writable && /^HPE_|ERR_HTTP_REQUEST_TIMEOUT/.test(err.code ?? '')) answerPlainOnSocket(socket, parseErrorStatus(err.code), null, `malformed request (${err.code}); nothing was forwarded`);
      else socket.destroy();
    });
  }

  /**
   * Take over a client connection whose next bytes should be a TLS ClientHello for ctx.target.
   * The first bytes are peeked: h2 prior knowledge and plain text are refused, never passed on.
   */
  accept(socket: Duplex, ctx: ConnectionContext, head: Buffer): void {
    const start = (first: Buffer): void => {
      if (first.length > 0) socket.unshift(first);
      if (first[0] !== TLS_HANDSHAKE) {
        const what = first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE) ? 'HTTP/2 with prior knowledge' : 'a protocol other than TLS';
        this.options.onRejected(ctx, `client spoke ${what} to guarded host ${ctx.target.host}; scopegate intercepts it over TLS with HTTP/1.1 only`);
        socket.destroy();
        return;
      }
      this.startTls(socket, ctx);
    };
    if (head.length > 0) {
      start(head);
      return;
    }
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      start(chunk);
    });
  }

  /**
   * Take over a tunnel's client connection that speaks cleartext HTTP/1 to the tunnel's own host:
   * every request on it is read and handed on like an intercepted one, so a later keep-alive
   * request cannot name another host unseen. `head` is what was peeked, put back first.
   */
  acceptCleartext(socket: Duplex, ctx: ConnectionContext, head: Buffer): void {
    this.contexts.set(socket, ctx);
    this.deadline(socket, this.limits.headerTimeoutMs);
    socket.once('close', () => this.deadline(socket, null));
    // Node's HTTP server reads a net.Socket straight from its handle (parser.consume), ahead of
    // bytes put back into the stream: the peeked request would be parsed after the next one.
    // Marked consumed, the handle is left alone and the server reads 'data', in order.
    const handle = (socket as { _handle?: { _consumed?: boolean } })._handle;
    if (handle) handle._consumed = true;
    if (head.length > 0) socket.unshift(head);
    this.server.emit('connection', socket);
    socket.resume();
  }

  private startTls(socket: Duplex, ctx: ConnectionContext): void {
    let secureContext;
    try {
      secureContext = this.options.leafCache.contextFor(ctx.target.host);
    } catch (err) {
      this.options.onRejected(ctx, `cannot mint a certificate for ${ctx.target.host}: ${errorMessage(err)}`);
      socket.destroy();
      return;
    }
    const tls = new TLSSocket(socket as Socket, {
      isServer: true,
      secureContext,
      // HTTP/1.1 only: the inspector reads HTTP/1.1, and clients fall back to it
      ALPNProtocols: ['http/1.1'],
    });
    this.contexts.set(tls, ctx);
    this.options.track(tls);
    this.deadline(tls, this.limits.headerTimeoutMs);
    tls.once('close', () => this.deadline(tls, null));
    // The TLS socket takes over the raw socket's handle and replays what was peeked (Node's
    // initRead); resuming the raw socket here would make it read — and drop — the next bytes.
    this.server.emit('connection', tls);
  }

  /** Close keep-alive connections that have no request in flight (shutdown). */
  closeIdle(): void {
    this.server.closeIdleConnections();
  }
}

function describeClientError(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (/ALERT|CERTIFICATE|CERT/i.test(`${code} ${err.message}`)) {
    return `the client refused scopegate's certificate (${code || 'TLS alert'}): it does not trust the CA; see \`scopegate env\``;
  }
  return `client connection error: ${code || err.message}`;
}
