import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { errorCode } from '../errors.js';

/** Why a body could not be read; `status` is what the agent gets. Plain data. */
export interface BodyProblem {
  status: 400 | 408 | 413 | 415;
  reason: string;
}

export interface BodyLimits {
  /** Largest body accepted on the wire. */
  maxBytes: number;
  /** Largest body after Content-Encoding is undone (a small gzip can inflate to gigabytes). */
  maxDecodedBytes: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { maxBytes: 5 * 1024 * 1024, maxDecodedBytes: 5 * 1024 * 1024 };

/**
 * Read a request body whole, up to the limit. Bodies on guarded hosts are small GraphQL
 * documents; buffering them is what lets scopegate judge the exact bytes it then forwards.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits, timeoutMs = 120_000): Promise<Buffer | BodyProblem> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    return Promise.resolve({ status: 413, reason: `request body of ${declared} bytes is over the ${limits.maxBytes}-byte limit` });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timer = setTimeout(() => {
      finish({ status: 408, reason: `the request body did not arrive within ${Math.round(timeoutMs / 1000)} s` });
      req.pause();
    }, timeoutMs);
    timer.unref();
    const finish = (v: Buffer | BodyProblem): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      resolve(v);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limits.maxBytes) {
        finish({ status: 413, reason: `request body is over the ${limits.maxBytes}-byte limit` });
        req.pause();
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => finish(Buffer.concat(chunks, size)));
    req.once('error', () => finish({ status: 400, reason: 'the request body could not be read (client error)' }));
    req.once('aborted', () => finish({ status: 400, reason: 'the client aborted the request body' }));
  });
}

const DECODERS: Record<string, (b: Buffer, max: number) => Buffer> = {
  gzip: (b, max) => gunzipSync(b, { maxOutputLength: max }),
  'x-gzip': (b, max) => gunzipSync(b, { maxOutputLength: max }),
  deflate: (b, max) => inflateSync(b, { maxOutputLength: max }),
  br: (b, max) => brotliDecompressSync(b, { maxOutputLength: max }),
};

/**
 * Undo Content-Encoding as the upstream will: codings are listed in the order they were applied,
 * so they are removed last first. An unknown coding is not guessed around.
 */
export function decodeContentEncoding(body: Buffer, header: string | undefined, limits: BodyLimits): Buffer | BodyProblem {
  if (!header) return body;
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c.length > 0 && c !== 'identity');
  if (codings.length > 4) return { status: 415, reason: `Content-Encoding "${header.slice(0, 80)}" stacks more codings than scopegate accepts (4)` };
  let out = body;
  for (const coding of codings.reverse()) {
    const decode = DECODERS[coding];
    if (!decode) return { status: 415, reason: `Content-Encoding "${coding}" is not one scopegate can read (gzip, deflate, br)` };
    try {
      out = decode(out, limits.maxDecodedBytes);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ERR_BUFFER_TOO_LARGE') return { status: 413, reason: `the ${coding}-decoded body is over the ${limits.maxDecodedBytes}-byte limit` };
      return { status: 400, reason: `the body is not valid ${coding} data` };
    }
  }
  return out;
}

export function isBodyProblem(v: unknown): v is BodyProblem {
  return typeof v === 'object' && v !== null && 'status' in v && 'reason' in v && !Buffer.isBuffer(v);
}
