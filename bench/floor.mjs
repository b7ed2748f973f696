// The floor: the least a TLS-terminating CONNECT proxy can do, with no inspection at all.
//   - CONNECT to a guarded name (*.bench.test, backboard.railway.com): answer 200, terminate TLS
//     with one certificate from the bench's test CA (no per-host minting), parse HTTP/1.1 with
//     node:http, forward each request with an undici Agent (pooled, kept alive, verified TLS,
//     SNI = the host) and stream the answer back;
//   - CONNECT to anything else: a plain TCP relay (net.connect + pipe both ways).
// Usage: node bench/floor.mjs '{"certPath","keyPath","caPath","upstreamPort"}' ; prints
// {"listening":PORT} on stdout.
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Agent, buildConnector } from 'undici';
import { GUARDED_SUFFIX, RAILWAY_HOST } from './lib.mjs';

const opts = JSON.parse(process.argv[2]);
const secureContext = createSecureContext({ cert: readFileSync(opts.certPath), key: readFileSync(opts.keyPath) });
const base = buildConnector({ ca: readFileSync(opts.caPath, 'utf8') });
const agent = new Agent({
  connect: (o, cb) => base({ ...o, hostname: '127.0.0.1', port: String(opts.upstreamPort), servername: o.hostname }, cb),
  keepAliveTimeout: 30_000,
  connections: 64,
});

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);
const guarded = (host) => host === RAILWAY_HOST || host.endsWith(`.${GUARDED_SUFFIX}`);

const inner = createServer({ keepAliveTimeout: 30_000 }, async (req, res) => {
  const host = req.socket.servername ?? req.headers.host;
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  headers.host = req.headers.host ?? host;
  try {
    const up = await agent.request({
      origin: `https://${host}`,
      path: req.url,
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req,
    });
    const out = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP.has(k)) out[k] = v;
    res.writeHead(up.statusCode, out);
    up.body.on('error', () => res.destroy());
    up.body.pipe(res);
  } catch (err) {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err?.code ?? err));
    } else res.destroy();
  }
});

const proxy = createServer();
proxy.on('connection', (s) => s.setNoDelay(true));
proxy.on('connect', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? '');
  if (!m) return void socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  const host = m[1].toLowerCase();
  const port = Number(m[2]);
  if (guarded(host)) {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    const tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    tls.servername = host;
    tls.on('error', () => tls.destroy());
    inner.emit('connection', tls);
    return;
  }
  const up = connect({ host, port });
  up.on('error', () => {
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    socket.destroy();
  });
  up.once('connect', () => {
    up.setNoDelay(true);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) up.write(head);
    socket.pipe(up);
    up.pipe(socket);
  });
  socket.on('close', () => up.destroy());
  up.on('close', () => socket.destroy());
});
proxy.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ listening: proxy.address().port })}\n`));
process.on('SIGTERM', () => process.exit(0));
