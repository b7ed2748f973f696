import { createServer, type Server } from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { TestPki } from './pki.js';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** 256 KiB of deterministic bytes, and their hash, for byte-for-byte checks. */
export const BIG = Buffer.alloc(256 * 1024, 0).map((_, i) => (i * 7 + 3) % 251);
export const BIG_SHA256 = createHash('sha256').update(BIG).digest('hex');

/**
 * A local HTTPS upstream on 127.0.0.1 that records what it received. Paths:
 *   /big         256 KiB of known bytes        /gzip   a gzip-encoded JSON body
 *   /slow?ms=N   answers after N ms            /reset  starts an answer, then resets the connection
 *   /hop         answers with hop-by-hop headers (Connection-listed and named)
 *   /huge        BIG 32 times (8 MiB)
 *   anything else: 200 with JSON {method, url, headers, body}
 */
export class TestUpstream {
  readonly seen: Seen[] = [];
  connections = 0;
  private server: Server;
  private sockets = new Set<Socket>();
  port = 0;

  constructor(pki: TestPki) {
    this.server = createServer({ cert: pki.cert, key: pki.key }, (req, res) => this.handle(req, res));
    this.server.on('secureConnection', (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.keepAliveTimeout = 30_000;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'https://x');
      if (url.pathname === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
        res.end(BIG);
      } else if (url.pathname === '/huge') {
        // BIG 32 times (8 MiB), written as fast as the socket takes it
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length * 32 });
        let n = 0;
        const more = (): void => {
          while (n < 32) {
            n++;
            if (!res.write(BIG)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      } else if (url.pathname === '/gzip') {
        const z = gzipSync(JSON.stringify({ data: { ok: true } }));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': z.length });
        res.end(z);
      } else if (url.pathname === '/slow') {
        const ms = Number(url.searchParams.get('ms') ?? '1000');
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('slow answer');
        }, ms);
      } else if (url.pathname === '/hop') {
        // hop-by-hop headers, named ones and one the Connection header lists: none may reach the client
        const out = JSON.stringify({ headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json', connection: 'x-up-hop', 'x-up-hop': 'for-the-proxy-only', 'proxy-authenticate': 'Basic realm="up"', 'x-up-end': 'kept' });
        res.end(out);
      } else if (url.pathname === '/reset') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100_000 });
        res.write('x'.repeat(1000));
        setTimeout(() => res.socket?.destroy(), 50);
      } else {
        const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
        res.end(out);
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
