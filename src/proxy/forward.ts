import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { answerPlain, DECISION_HEADER } from './answers.js';
import type { Dispatcher } from 'undici';
import { describeUpstreamError, type Upstream } from './upstream.js';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy's own: they describe one connection, not
 * the message, and must not cross the proxy in either direction.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // undici sends its own Host from the origin, and refuses Expect; Node's server already said 100 Continue
  'host',
  'expect',
  'http2-settings',
]);

/**
 * The header names a Connection header lists: hop-by-hop for this one message too (RFC 9110 §7.6.1).
 * Nearly every request says `keep-alive` and nearly every answer nothing or `close`, so the sets
 * made are remembered (bounded) rather than built again for each message.
 */
const listedSets = new Map<string, ReadonlySet<string>>();
function connectionListed(value: string | undefined): ReadonlySet<string> | null {
  if (!value) return null;
  const known = listedSets.get(value);
  if (known) return known;
  const names = new Set<string>();
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  if (listedSets.size >= 64) listedSets.clear();
  listedSets.set(value, names);
  return names;
}

/** Request headers to send upstream, duplicates and order kept, from the raw header list. */
export function upstreamRequestHeaders(req: IncomingMessage, hostHeader: string, drop?: ReadonlySet<string>, add?: readonly string[]): string[] {
  const raw = req.rawHeaders;
  // Node joins repeated Connection headers into one value
  const listed = connectionListed(req.headers.connection);
  const out: string[] = ['host', hostHeader];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower) || drop?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (add) out.push(...add);
  return out;
}

/** The answer's headers for the client, from undici's raw list: hop-by-hop ones dropped, repeats kept. */
function responseHeaders(raw: Buffer[], decisionId: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toString('latin1').toLowerCase() === 'connection') {
      const value = raw[i + 1]!.toString('latin1');
      connection = connection === undefined ? value : `${connection}, ${value}`;
    }
  }
  const listed = connectionListed(connection);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    const value = raw[i + 1]!.toString('latin1');
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [String(had), value];
  }
  // the decision id rides on forwarded answers too, so any answer can be traced to its log line
  out[DECISION_HEADER_LOWER] = decisionId;
  return out;
}

const DECISION_HEADER_LOWER = DECISION_HEADER.toLowerCase();

export interface ForwardTarget {
  /** `https://host:port` as undici keys its pools. */
  origin: string;
  /** The Host header the upstream should see. */
  hostHeader: string;
}

export interface ForwardResult {
  /** The status the agent got (the upstream's, or scopegate's 502/504); 0 if the client left first. */
  status: number;
  bytesOut: number;
  /** Why the forward failed, for the log line. */
  error?: string;
}

/**
 * Send one request upstream and stream the answer back without buffering it. Failures before the
 * answer starts become 502/504 with a reason; failures after it started reset the client's
 * connection, so a truncated answer is never passed off as a whole one.
 *
 * It drives undici's dispatcher directly: the answer's bytes go straight to the client's socket,
 * with undici's own pause/resume for backpressure, and the client going away aborts the upstream
 * request through the abort function undici hands over. The request API's body stream, its
 * AbortSignal and a pipe per answer were the largest cost forwarding added per request.
 */
export function forward(
  upstream: Upstream,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
  body: Buffer | Readable | null,
  decisionId: string,
  dropHeaders?: ReadonlySet<string>,
  /** Header name, value, name, value…: sent upstream after the client's (a credential in custody). */
  addHeaders?: readonly string[],
): Promise<ForwardResult> {
  return new Promise<ForwardResult>((resolve) => {
    const hasBody = body !== null && !(Buffer.isBuffer(body) && body.length === 0 && (req.method === 'GET' || req.method === 'HEAD'));
    let abortUpstream: ((err?: Error) => void) | null = null;
    let clientGone = false;
    let status = 0;
    let bytesOut = 0;
    let settled = false;
    let resumeUpstream: (() => void) | null = null;
    const settle = (r: ForwardResult): void => {
      if (settled) return;
      settled = true;
      res.off('close', onClose);
      res.off('drain', onDrain);
      resolve(r);
    };
    const midAnswerFailure = (code: string): ForwardResult => ({
      status,
      bytesOut,
      error: clientGone ? 'client closed the connection mid-answer' : `upstream failed mid-answer (${code}); client connection reset`,
    });
    const onDrain = (): void => resumeUpstream?.();
    const onClose = (): void => {
      if (res.writableFinished) {
        settle({ status, bytesOut });
        return;
      }
      clientGone = true;
      abortUpstream?.(Object.assign(new Error('client closed'), { code: 'ECONNRESET' }));
    };
    res.on('close', onClose);
    res.on('drain', onDrain);
    res.once('finish', () => settle({ status, bytesOut }));

    const options: Dispatcher.DispatchOptions = {
      origin: target.origin,
      path: req.url ?? '/',
      method: req.method as 'GET',
      headers: upstreamRequestHeaders(req, target.hostHeader, dropHeaders, addHeaders),
      body: hasBody ? body : null,
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortUpstream = abort;
        if (clientGone) abort(Object.assign(new Error('client closed'), { code: 'ECONNRESET' }));
      },
      onHeaders(statusCode, rawHeaders, resume) {
        if (statusCode < 200) return true; // 1xx: the final answer follows
        if (clientGone || res.destroyed) return false;
        status = statusCode;
        resumeUpstream = resume;
        res.writeHead(statusCode, responseHeaders(rawHeaders as Buffer[], decisionId));
        return true;
      },
      onData(chunk) {
        bytesOut += chunk.length;
        return res.write(chunk);
      },
      onComplete() {
        res.end();
      },
      onError(err) {
        if (status === 0) {
          if (clientGone) {
            settle({ status: 0, bytesOut: 0, error: 'client closed the connection before the answer' });
            return;
          }
          const { status: s, reason } = describeUpstreamError(err, target.origin);
          status = s;
          answerPlain(res, s, decisionId, reason);
          settle({ status: s, bytesOut: 0, error: reason });
          return;
        }
        res.destroy();
        settle(midAnswerFailure((err as { code?: string }).code ?? 'error'));
      },
    };
    try {
      upstream.dispatch(options, handler);
    } catch (err) {
      // undici refuses some requests before sending anything (arguments it will not send)
      handler.onError!(err as Error);
    }
  });
}
