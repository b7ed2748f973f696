import type { IncomingMessage } from 'node:http';

/** How long and how much a client may take, on every listener. Slow clients are cut, not waited on. */
export interface ClientLimits {
  /** Time to send the request headers. */
  headerTimeoutMs: number;
  /** Time to send the whole request, body included. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  idleTimeoutMs: number;
  /** More header lines than this is refused (Node would silently drop the rest). */
  maxHeaders: number;
}

export const DEFAULT_CLIENT_LIMITS: ClientLimits = { headerTimeoutMs: 20_000, requestTimeoutMs: 120_000, idleTimeoutMs: 30_000, maxHeaders: 200 };

export function serverOptions(l: ClientLimits): { keepAliveTimeout: number; headersTimeout: number; requestTimeout: number; maxHeadersCount: number; connectionsCheckingInterval: number } {
  return {
    keepAliveTimeout: l.idleTimeoutMs,
    headersTimeout: l.headerTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    // one more than allowed, so that reaching it means "too many", not "exactly enough"
    maxHeadersCount: l.maxHeaders + 1,
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(l.headerTimeoutMs / 4))),
  };
}

/**
 * Framing Node's parser lets through but a proxy must not: stacked transfer codings (the body the
 * proxy reads is not the body the upstream would decode), repeated Host or Content-Length, too
 * many headers. Node already refuses Content-Length with Transfer-Encoding, differing lengths,
 * obsolete folding, bad chunk sizes and bare CR/LF. Returns why the request is refused, or null.
 */
export function framingProblem(req: IncomingMessage, l: ClientLimits): { status: 400 | 431; reason: string } | null {
  const raw = req.rawHeaders;
  if (raw.length / 2 > l.maxHeaders) return { status: 431, reason: `more than ${l.maxHeaders} header lines` };
  let hosts = 0;
  let lengths = 0;
  let te = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'host') hosts++;
    else if (name === 'content-length') lengths++;
    else if (name === 'transfer-encoding') te++;
  }
  if (hosts > 1) return { status: 400, reason: 'more than one Host header' };
  if (lengths > 1) return { status: 400, reason: 'more than one Content-Length header' };
  if (te > 1) return { status: 400, reason: 'more than one Transfer-Encoding header' };
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') return { status: 400, reason: `Transfer-Encoding "${coding.slice(0, 40)}": only chunked is accepted` };
  return null;
}

/** The answer to a request Node's parser refused. */
export function parseErrorStatus(code: string | undefined): 400 | 408 | 431 {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') return 408;
  return 400;
}
