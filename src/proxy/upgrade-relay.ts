import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../audit/logger.js';
import { parseAuthority } from '../net/host.js';
import { answerPlainOnSocket } from './answers.js';
import type { ConnectionContext } from './context.js';
import type { Upstream } from './upstream.js';

/**
 * An Upgrade (a ws:// WebSocket) on a cleartext tunnel to a host that is not guarded: once its
 * request is read and its Host is the tunnel's own, the connection is relayed to that host as it
 * was before HTTP reading took the tunnel over. After the upgrade no HTTP request follows on it.
 */
export function relayUpgrade(upstream: Upstream, ctx: ConnectionContext, req: IncomingMessage, socket: Duplex, head: Buffer, logger: Logger): void {
  socket.on('error', () => socket.destroy());
  const host = req.headers.host;
  let named;
  try {
    named = host === undefined ? null : parseAuthority(host, ctx.target.port);
  } catch {
    named = null;
  }
  if (!named || named.host !== ctx.target.host || named.port !== ctx.target.port || !(req.url ?? '').startsWith('/')) {
    answerPlainOnSocket(socket, 421, null, `an upgrade inside a tunnel to ${ctx.target.host} must be for that host, in origin form`);
    return;
  }
  const dest = upstream.tunnelTarget(ctx.target.host, ctx.target.port);
  const out = connect({ host: dest.host, port: dest.port });
  out.on('error', (err: NodeJS.ErrnoException) => {
    logger.debug({ connectionId: ctx.connectionId, host: ctx.target.host, code: err.code }, 'upgrade relay failed');
    if (!socket.destroyed) answerPlainOnSocket(socket, 502, null, `cannot connect to ${ctx.target.host}:${ctx.target.port}`);
    out.destroy();
  });
  out.once('connect', () => {
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    out.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) out.write(head);
    socket.pipe(out).pipe(socket);
  });
  socket.once('close', () => out.destroy());
  out.once('close', () => socket.destroy());
}
