import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { answerPlain, DECISION_HEADER } from './answers.js';
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

/** Request headers to send upstream, duplicates and order kept, from the raw header list. */
export function upstreamRequestHeaders(req: IncomingMessage, hostHeader: string, drop?: ReadonlySet<string>): string[] {
  const raw = req.rawHeaders;
  const connectionListed = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) connectionListed.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = ['host', hostHeader];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionListed.has(lower) || drop?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

const NONE_LISTED: ReadonlySet<string> = new Set();

function responseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connection = headers['connection'];
  const listed = connection === undefined ? NONE_LISTED : new Set(
    String(connection)
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Stream `from` into `to` and settle when `to` has finished; reject when either side fails or the
 * client goes away first. (stream.pipeline does the same but builds and aborts an AbortController
 * per call, which showed in the profile of the common path.)
 */
function relay(from: Readable, to: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      from.off('error', onError);
      to.off('finish', onFinish);
      to.off('close', onClose);
      if (err) {
        from.destroy();
        reject(err);
      } else resolve();
    };
    const onError = (err: Error): void => done(err);
    const onFinish = (): void => done();
    const onClose = (): void => done(to.writableFinished ? undefined : Object.assign(new Error('client closed'), { code: 'ECONNRESET' }));
    from.once('error', onError);
    to.once('finish', onFinish);
    to.once('close', onClose);
    from.pipe(to);
  });
}

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
 */
export async function forward(
  upstream: Upstream,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
  body: Buffer | Readable | null,
  decisionId: string,
  dropHeaders?: ReadonlySet<string>,
): Promise<ForwardResult> {
  // an EventEmitter with `aborted` is a signal undici accepts, without the AbortController and
  // DOMException a real one costs on every request (it showed in the profile)
  const abort = Object.assign(new EventEmitter(), { aborted: false });
  const onClientGone = (): void => {
    if (res.writableFinished || abort.aborted) return;
    abort.aborted = true;
    abort.emit('abort');
  };
  res.once('close', onClientGone);
  const hasBody = body !== null && !(Buffer.isBuffer(body) && body.length === 0 && (req.method === 'GET' || req.method === 'HEAD'));
  let answer;
  try {
    answer = await upstream.request({
      origin: target.origin,
      path: req.url ?? '/',
      method: req.method as 'GET',
      headers: upstreamRequestHeaders(req, target.hostHeader, dropHeaders),
      body: hasBody ? body : null,
      signal: abort,
    });
  } catch (err) {
    res.off('close', onClientGone);
    if (abort.aborted) return { status: 0, bytesOut: 0, error: 'client closed the connection before the answer' };
    const { status, reason } = describeUpstreamError(err, target.origin);
    answerPlain(res, status, decisionId, reason);
    return { status, bytesOut: 0, error: reason };
  }
  let bytesOut = 0;
  answer.body.on('data', (chunk: Buffer) => {
    bytesOut += chunk.length;
  });
  try {
    // the decision id rides on forwarded answers too, so any answer can be traced to its log line
    res.writeHead(answer.statusCode, { ...responseHeaders(answer.headers), [DECISION_HEADER.toLowerCase()]: decisionId });
    await relay(answer.body, res);
    return { status: answer.statusCode, bytesOut };
  } catch (err) {
    res.destroy();
    const code = (err as { code?: string }).code ?? 'error';
    return { status: answer.statusCode, bytesOut, error: abort.aborted ? 'client closed the connection mid-answer' : `upstream failed mid-answer (${code}); client connection reset` };
  } finally {
    res.off('close', onClientGone);
  }
}
