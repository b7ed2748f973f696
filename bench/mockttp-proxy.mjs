// mockttp as an HTTPS-intercepting proxy with one pass-through rule, for comparison.
// It mints leaves from the bench's test CA, forwards every request to the bench upstream
// (127.0.0.1:PORT, Host header kept, upstream TLS verified against the test CA), does not record
// traffic, and passes TLS for the tunnel scenario's name through untouched (tlsPassthrough).
// Usage: node bench/mockttp-proxy.mjs '{"caPath","caKeyPath","upstreamPort","tunnelSni"}'; prints
// {"listening":PORT}, or {"missing":REASON} and exits 3 when mockttp cannot be loaded.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH } from './lib.mjs';

async function load() {
  try {
    return await import('mockttp');
  } catch {
    // a bench-local install (npm install --prefix bench/.work/deps mockttp) also works
    const req = createRequire(join(BENCH, '.work', 'deps', 'package.json'));
    return await import(pathToFileURL(req.resolve('mockttp')).href);
  }
}

const opts = JSON.parse(process.argv[2]);
let mockttp;
try {
  mockttp = await load();
} catch (err) {
  process.stdout.write(`${JSON.stringify({ missing: `mockttp is not installed (${err.code ?? err.message})` })}\n`);
  process.exit(3);
}
const server = mockttp.getLocal({
  https: { keyPath: opts.caKeyPath, certPath: opts.caPath, tlsPassthrough: [{ hostname: '127.0.0.1' }, { hostname: opts.tunnelSni }] },
  recordTraffic: false,
  http2: false,
});
await server.start();
await server.forAnyRequest().thenPassThrough({
  transformRequest: { replaceHost: { targetHost: `127.0.0.1:${opts.upstreamPort}`, updateHostHeader: false } },
  additionalTrustedCAs: [{ certPath: opts.caPath }],
});
process.stdout.write(`${JSON.stringify({ listening: server.port, version: mockttp.VERSION ?? null })}\n`);
process.on('SIGTERM', () => void server.stop().finally(() => process.exit(0)));
