/**
 * Raw HTTP/1.1 requests for the differential harness: built as exact bytes and written on a plain
 * socket, so that scopegate's reader and every real server receive the very same bytes (no client
 * library normalises the target, the headers or the body on the way).
 */
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  /** The request-target exactly as written on the request line. */
  target: string;
  /** Header lines in order, repeated names allowed; Host and Connection: close are added. */
  headers: [string, string][];
  body: Buffer | null;
  /** Send the body chunked instead of with Content-Length. */
  chunked?: boolean;
  /** Where chunks end (byte offsets into the body); default: one cut in the middle. */
  cuts?: number[];
}

export function serialize(r: RawRequest): Buffer {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'Host: backboard.railway.com', ...r.headers.map(([k, v]) => `${k}: ${v}`)];
  if (r.body !== null) lines.push(r.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${r.body.length}`);
  lines.push('Connection: close', '', '');
  const head = Buffer.from(lines.join('\r\n'), 'latin1');
  if (r.body === null) return head;
  if (!r.chunked) return Buffer.concat([head, r.body]);
  const parts: Buffer[] = [head];
  // each chunk reaches a Node server as its own 'data' event: a reader must join them before decoding
  const cuts = [...(r.cuts ?? [Math.floor(r.body.length / 2)]).filter((c) => c > 0 && c < r.body!.length).sort((a, b) => a - b), r.body.length];
  let from = 0;
  for (const to of cuts) {
    const c = r.body.subarray(from, to);
    from = to;
    if (c.length) parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** Readable form of raw bytes for a failure report: printable ASCII as is, the rest escaped. */
export function showBytes(b: Buffer, max = 3000): string {
  let out = '';
  for (const byte of b.subarray(0, max)) {
    if (byte === 0x0d) out += '\\r';
    else if (byte === 0x0a) out += '\\n\n';
    else if (byte >= 0x20 && byte < 0x7f && byte !== 0x5c) out += String.fromCharCode(byte);
    else if (byte === 0x5c) out += '\\\\';
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return b.length > max ? `${out}… (${b.length} bytes)` : out;
}

/**
 * Write the bytes to 127.0.0.1:port and wait until the server closes the connection (every request
 * says Connection: close) or `timeoutMs` passes. Resolves with the socket's local port, which the
 * reader server uses to file its result, and the status line of the answer ('' if none came).
 */
export function sendRaw(port: number, bytes: Buffer, timeoutMs: number, onConnect?: (localPort: number) => void): Promise<{ localPort: number; status: string }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    let localPort = 0;
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ localPort, status: got.split('\r\n', 1)[0] ?? '' });
    };
    const timer = setTimeout(done, timeoutMs);
    sock.once('connect', () => {
      localPort = sock.localPort ?? 0;
      onConnect?.(localPort);
      sock.write(bytes);
    });
    sock.on('data', (c: Buffer) => {
      if (got.length < 8192) got += c.toString('latin1');
      // an event stream (a subscription over SSE) stays open: its first event means the resolvers ran
      const head = got.indexOf('\r\n\r\n');
      if (head > 0 && /\r\ncontent-type:\s*text\/event-stream/i.test(got.slice(0, head)) && got.indexOf('\n\n', head + 4) > 0) done();
    });
    sock.once('close', done);
    sock.once('error', done);
  });
}
