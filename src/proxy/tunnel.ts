import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { answerPlainOnSocket } from './answers.js';
import { readFirstBytes } from './first-bytes.js';

/** What a tunnel does with the client's bytes once their first ones are judged. */
/**
 * `relay`: bytes pass untouched; `read-http`: cleartext HTTP for the tunnel's own host, read request
 * by request from here on (so a later keep-alive request cannot name another host unseen);
 * `intercept`: TLS for a guarded host; `refuse`: cut, nothing reaches the upstream.
 */
export type SettledVerdict = 'relay' | 'read-http' | { intercept: string } | { refuse: string };

/**
 * `pending`: the verdict needs something slow (a DNS lookup); the client's bytes wait for it, and
 * the common verdicts stay synchronous so a tunnel does not pay for a promise it does not need.
 */
export type FirstBytesVerdict = 'need-more' | SettledVerdict | { pending: Promise<SettledVerdict> };

export interface TunnelResult {
  /** true once the upstream connection was made and the client told 200. */
  established: boolean;
  /** The client's first bytes named a guarded host: the connection was handed to interception. */
  interceptedAs?: string;
  /** The client's first bytes were refused: nothing reached the upstream. */
  refused?: boolean;
  /** The client speaks cleartext HTTP: the connection was handed to the HTTP reader. */
  readAsHttp?: boolean;
  bytesUp: number;
  bytesDown: number;
  error?: string;
}

export interface TunnelHooks {
  /** Every socket scopegate opens is registered, so shutdown can close it. */
  track(s: Socket): void;
  onOpen(): void;
  onClose(r: TunnelResult): void;
  /**
   * Judge the client's first bytes before any reach the upstream: a ClientHello whose SNI (or a
   * cleartext request whose Host) names a guarded host must not pass unjudged through a tunnel
   * opened to some other name or address.
   */
  inspectFirst(buf: Buffer): FirstBytesVerdict;
  /** Take over the client connection as the guarded host the first bytes named. */
  intercept(client: Duplex, host: string, head: Buffer): void;
  /** Take over a cleartext HTTP connection: each request on it is read and checked. */
  readHttp(client: Duplex, head: Buffer): void;
}

/** Size of the buffer a tunnel's upstream socket reads into, again and again. */
const RELAY_BUFFER = 64 * 1024;

/**
 * Relay bytes between the client and host:port, untouched: the client completes TLS with the
 * real upstream and sees its real certificate. The client hears 200 only once the upstream
 * connection exists, so an unreachable host is a clean 502/504, not a dead tunnel.
 */
export function openTunnel(client: Duplex, head: Buffer, target: { host: string; port: number }, decisionId: string, hooks: TunnelHooks, connectTimeoutMs = 10_000, transparent = false): void {
  // Downloads dominate tunnels. Reading them into one buffer per tunnel, instead of a fresh 64 KiB
  // Buffer per read, spares the allocator and the full GCs that freed-but-uncollected read buffers
  // force (external memory); that was most of what a tunnel cost over a plain relay.
  const buffer = Buffer.allocUnsafe(RELAY_BUFFER);
  let relayDown: (n: number) => boolean = () => false;
  const upstream = connect({ host: target.host, port: target.port, onread: { buffer, callback: (n: number) => relayDown(n) } });
  hooks.track(upstream);
  let established = false;
  let reported = false;
  let error: string | undefined;
  let refused = false;
  const report = (): void => {
    if (reported) return;
    reported = true;
    hooks.onClose({ established, bytesUp: upstream.bytesWritten, bytesDown: upstream.bytesRead, ...(refused ? { refused } : {}), ...(error ? { error } : {}) });
  };
  const refuse = (status: 502 | 504, reason: string): void => {
    error ??= reason;
    clearTimeout(timer);
    upstream.destroy();
    // a transparent client never asked a proxy anything: it cannot read an HTTP answer, only a close
    if (transparent) client.destroy();
    else answerPlainOnSocket(client, status, decisionId, error);
    report();
  };
  const timer = setTimeout(() => refuse(504, `connecting to ${target.host}:${target.port} timed out`), connectTimeoutMs);

  let handedOff = false;
  const resumeDown = (): void => {
    if (!handedOff && !upstream.destroyed) upstream.resume();
  };
  upstream.once('connect', () => {
    clearTimeout(timer);
    if (client.destroyed) {
      upstream.destroy();
      report();
      return;
    }
    established = true;
    upstream.setNoDelay(true);
    if (!transparent) client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    // server-first protocols may speak at once; the client's bytes wait for the verdict below
    relayDown = (n) => {
      if (handedOff || client.destroyed) return false;
      let flushed = false;
      let paused = false;
      client.write(buffer.subarray(0, n), () => {
        flushed = true;
        if (paused) resumeDown();
      });
      // Still queued: it points into the buffer, so no read may refill it until it has gone out.
      // Its own callback says when; 'drain' would never come for a write below the high-water mark.
      if (client.writableLength > 0 && !flushed) {
        paused = true;
        return false;
      }
      return true;
    };
    upstream.once('end', () => {
      if (!handedOff && !client.destroyed) client.end();
    });
    // flowing, so that the end of the upstream's stream is announced ('end'); the bytes themselves
    // arrive through relayDown, not as 'data'
    upstream.resume();
    hooks.onOpen();
    const apply = (verdict: SettledVerdict, buf: Buffer): void => {
      // the client may have left while a pending verdict was worked out
      if (client.destroyed) return;
      if (typeof verdict === 'object' && 'refuse' in verdict) {
        error = verdict.refuse;
        refused = true;
        client.destroy();
      } else if (verdict === 'read-http') {
        handedOff = true;
        upstream.destroy();
        reported = true;
        hooks.onClose({ established, readAsHttp: true, bytesUp: 0, bytesDown: upstream.bytesRead });
        hooks.readHttp(client, buf);
      } else if (typeof verdict === 'object') {
        handedOff = true;
        upstream.destroy();
        const r: TunnelResult = { established, interceptedAs: verdict.intercept, bytesUp: 0, bytesDown: upstream.bytesRead };
        reported = true;
        hooks.onClose(r);
        hooks.intercept(client, verdict.intercept, buf);
      } else if (upstream.destroyed) {
        client.destroy();
      } else {
        upstream.write(buf);
        client.pipe(upstream);
        client.resume();
      }
    };
    readFirstBytes(client, head, hooks.inspectFirst, (settled, buf) => {
      if (settled === 'too-long') return apply({ refuse: 'the first bytes did not settle what they are within 16 KiB' }, buf);
      if (typeof settled === 'object' && 'pending' in settled) {
        settled.pending.then(
          (v) => apply(v, buf),
          (err: Error) => apply({ refuse: `judging the first bytes failed: ${err.message}` }, buf),
        );
        return;
      }
      apply(settled, buf);
    });
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
    if (!established || handedOff) return;
    if (!client.destroyed) {
      client.end();
      // a client that never closes its side must not keep the socket forever
      setTimeout(() => client.destroy(), 5_000).unref();
    }
  });
  client.on('error', () => {
    if (!handedOff) client.destroy();
  });
  client.on('close', () => {
    if (handedOff) return;
    upstream.destroy();
    if (established || reported) report();
    else {
      clearTimeout(timer);
      error ??= 'client left before the tunnel opened';
      report();
    }
  });
}
