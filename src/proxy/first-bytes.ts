import type { Duplex } from 'node:stream';

/** First bytes are read at most this far before a verdict is forced (a ClientHello fits well within). */
export const MAX_PEEK = 16 * 1024 + 64;

/**
 * Read a client's first bytes (starting with `head`, what came with the request that opened the
 * connection) until `judge` settles what they are, then stop reading and hand over the verdict and
 * every byte seen, so nothing is lost whoever takes the connection next. Past MAX_PEEK bytes the
 * verdict is 'too-long'. Tunnels and the transparent listener both start this way.
 */
export function readFirstBytes<V>(client: Duplex, head: Buffer, judge: (buf: Buffer) => V | 'need-more', settled: (verdict: V | 'too-long', buf: Buffer) => void): void {
  const seen: Buffer[] = [];
  let size = 0;
  let decided = false;
  const take = (chunk: Buffer): void => {
    seen.push(chunk);
    size += chunk.length;
    const buf = seen.length === 1 ? chunk : Buffer.concat(seen, size);
    const verdict = judge(buf);
    if (verdict === 'need-more' && size < MAX_PEEK) return;
    decided = true;
    client.off('data', take);
    client.pause();
    settled(verdict === 'need-more' ? 'too-long' : verdict, buf);
  };
  if (head.length > 0) take(head);
  if (!decided) client.on('data', take);
}
