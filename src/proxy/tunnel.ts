import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { answerPlainOnSocket } from './answers.js';

export interface TunnelResult {
  /** true once the upstream connection was made and the client told 200. */
  established: boolean;
  bytesUp: number;
  bytesDown: number;
  error?: string;
}

export interface TunnelHooks {
  /** Every socket scopegate opens is registered, so shutdown can close it. */
  track(s: Socket): void;
  onOpen(): void;
  onClose(r: TunnelResult): void;
}

/**
 * Relay bytes between the client and host:port, untouched: the client completes TLS with the
 * real upstream and sees its real certificate. The client hears 200 only once the upstream
 * connection exists, so an unreachable host is a clean 502/504, not a dead tunnel.
 */
export function openTunnel(client: Duplex, head: Buffer, target: { host: string; port: number }, decisionId: string, hooks: TunnelHooks, connectTimeoutMs = 10_000): void {
  const upstream = connect({ host: target.host, port: target.port });
  hooks.track(upstream);
  let established = false;
  let reported = false;
  let error: string | undefined;
  const report = (): void => {
    if (reported) return;
    reported = true;
    hooks.onClose({ established, bytesUp: upstream.bytesWritten, bytesDown: upstream.bytesRead, ...(error ? { error } : {}) });
  };
  const refuse = (status: 502 | 504, reason: string): void => {
    error ??= reason;
    clearTimeout(timer);
    upstream.destroy();
    answerPlainOnSocket(client, status, decisionId, error);
    report();
  };
  const timer = setTimeout(() => refuse(504, `connecting to ${target.host}:${target.port} timed out`), connectTimeoutMs);

  upstream.once('connect', () => {
    clearTimeout(timer);
    if (client.destroyed) {
      upstream.destroy();
      report();
      return;
    }
    established = true;
    upstream.setNoDelay(true);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
    hooks.onOpen();
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (!established) {
      refuse(err.code === 'ETIMEDOUT' ? 504 : 502, `cannot connect to ${target.host}:${target.port}: ${err.code ?? err.message}`);
      return;
    }
    error ??= `upstream ${err.code ?? err.message}`;
    client.destroy();
  });
  // pipe() carries each side's end to the other; these handlers only make sure nothing lingers
  upstream.on('close', () => {
    if (!established) return;
    if (!client.destroyed) {
      client.end();
      // a client that never closes its side must not keep the socket forever
      setTimeout(() => client.destroy(), 5_000).unref();
    }
  });
  client.on('error', () => client.destroy());
  client.on('close', () => {
    upstream.destroy();
    if (established || reported) report();
    else {
      clearTimeout(timer);
      error ??= 'client left before the tunnel opened';
      report();
    }
  });
}
