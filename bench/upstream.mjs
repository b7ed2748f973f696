// The benchmark's upstreams, in their own process (forked by run.mjs; IPC only), on 127.0.0.1:
//   - api:  HTTPS, keep-alive; any request gets a small GraphQL answer, or 256 KiB when the Host
//           header is big.bench.test; its certificate covers *.bench.test (so every one of the
//           200 hostnames of scenario d is served by it);
//   - bulk: raw TLS, answers `GET /bulk?bytes=N` with N bytes (the tunnel scenario's far end);
//   - the fake Railway from dist/demo/fake-railway, with each answer it gives timed (scenario e).
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIG_BYTES, ipcServe, nowEpochMs, ROOT } from './lib.mjs';

const opts = JSON.parse(process.argv[2]);
const tlsOpts = { cert: readFileSync(opts.certPath), key: readFileSync(opts.keyPath) };

const small = Buffer.from(JSON.stringify({ data: { me: { id: 'u1' } } }));
const big = (() => {
  const head = '{"data":{"blob":"';
  const tail = '"}}';
  return Buffer.from(head + 'x'.repeat(BIG_BYTES - head.length - tail.length) + tail);
})();

const api = createHttpsServer(tlsOpts, (req, res) => {
  req.resume();
  req.on('end', () => {
    const body = (req.headers.host ?? '').startsWith('big.') ? big : small;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
api.keepAliveTimeout = 60_000;
api.maxRequestsPerSocket = 0;

const CHUNK = Buffer.alloc(256 * 1024, 0x61);
const bulk = createTlsServer(tlsOpts, (sock) => {
  let head = '';
  sock.on('error', () => sock.destroy());
  const onData = (c) => {
    head += c.toString('latin1');
    if (!head.includes('\r\n\r\n')) {
      if (head.length > 8192) sock.destroy();
      return;
    }
    sock.off('data', onData);
    const n = Math.min(Number(/bytes=(\d+)/.exec(head)?.[1] ?? 0), 1024 ** 3);
    sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${n}\r\nconnection: close\r\n\r\n`);
    let left = n;
    const pump = () => {
      while (left > 0) {
        const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= c.length;
        if (!sock.write(c)) return void sock.once('drain', pump);
      }
      sock.end();
    };
    pump();
  };
  sock.on('data', onData);
});

const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
const apiPort = await listen(api);
const bulkPort = await listen(bulk);

// The fake Railway answers scopegate's live lookups; every answer it gives is timed here, from
// the request event to the end of the answer, on this process's clock (epoch ms).
const { startFakeRailway } = await import(join(ROOT, 'dist', 'demo', 'fake-railway', 'index.js'));
const fake = await startFakeRailway({ cert: tlsOpts.cert.toString(), key: tlsOpts.key.toString() });
const fakeServer = process._getActiveHandles().find((h) => h instanceof HttpsServer && h.address()?.port === fake.port);
const answers = [];
if (fakeServer) {
  fakeServer.prependListener('request', (req, res) => {
    const t0 = nowEpochMs();
    const p0 = performance.now();
    res.once('finish', () => {
      if (answers.length < 100_000) answers.push({ t0, ms: performance.now() - p0, source: String(req.headers['x-source'] ?? '') });
    });
  });
}

ipcServe({
  ports: () => ({ api: apiPort, bulk: bulkPort, fake: fake.port, fakeTimed: !!fakeServer }),
  /** The fake's timed answers since epoch ms `since`. */
  fakeAnswers: ({ since }) => answers.filter((a) => a.t0 >= since),
  fakeClear: () => {
    answers.length = 0;
    return true;
  },
});
process.send({ ready: true });
