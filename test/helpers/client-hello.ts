import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';

/** The first TLS record a real client (Node's) sends: its ClientHello, captured by a plain TCP server on loopback. */
export async function captureHello(servername: string | undefined, alpn?: string[]): Promise<Buffer> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) => {
    srv.once('connection', (s) => {
      let acc = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        acc = Buffer.concat([acc, d]);
        if (acc.length >= 5 && acc.length >= 5 + acc.readUInt16BE(3)) {
          resolve(acc);
          s.destroy();
        }
      });
    });
  });
  const c = connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, ...(servername ? { servername } : {}), ...(alpn ? { ALPNProtocols: alpn } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  srv.close();
  return hello;
}
