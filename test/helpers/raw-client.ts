import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/**
 * Open a CONNECT tunnel through the proxy exactly as written (any spelling of the target), then
 * TLS inside it with the given SNI. For requests no well-behaved client library would send.
 */
export function tunnel(proxyPort: number, connectTarget: string, sni: string, ca: string, extraConnectHeaders = ''): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s: Socket = netConnect(proxyPort, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('CONNECT timed out'));
    }, 5000);
    let buf = '';
    s.once('error', reject);
    s.on('data', function onData(c: Buffer) {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      clearTimeout(timer);
      if (!/^HTTP\/1\.1 200/.test(buf)) {
        s.destroy();
        reject(new Error(`CONNECT refused: ${buf.split('\r\n')[0]}`));
        return;
      }
      const t = tlsConnect({ socket: s, servername: sni, ca, ALPNProtocols: ['http/1.1'] });
      t.once('secureConnect', () => resolve(t));
      t.once('error', reject);
    });
    s.write(`CONNECT ${connectTarget} HTTP/1.1\r\nHost: ${connectTarget}\r\n${extraConnectHeaders}\r\n`);
  });
}

/** Write raw bytes on a socket and read until the peer closes or goes quiet. */
export function exchange(sock: TLSSocket | Socket, bytes: string | Buffer, quietMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    let timer = setTimeout(done, quietMs);
    function done(): void {
      clearTimeout(timer);
      sock.destroy();
      resolve(got);
    }
    sock.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(done, 300);
    });
    sock.on('close', done);
    sock.on('error', done);
    sock.write(bytes);
  });
}
