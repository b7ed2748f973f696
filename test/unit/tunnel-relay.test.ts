import { describe, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { openTunnel, type TunnelResult } from '../../src/proxy/tunnel.js';

/**
 * The relay's download direction with a client whose writes the test holds back, as a socket with
 * a full send buffer would: writes below the high-water mark stay queued without ever making
 * write() return false, so no 'drain' comes. The relay must still go on once they are flushed.
 */
class HeldClient extends Duplex {
  held: (() => void)[] = [];
  received = 0;
  holding = true;
  constructor() {
    super({ writableHighWaterMark: 16 * 1024 });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const done = (): void => {
      this.received += chunk.length;
      cb();
    };
    if (this.holding) this.held.push(done);
    else done();
  }
  release(): void {
    this.holding = false;
    for (const f of this.held.splice(0)) f();
  }
}

describe('tunnel relay', () => {
  it('small writes held back by the client do not stall the download once they are flushed', async () => {
    const TOTAL = 64 * 1024;
    const far = createServer((s: Socket) => {
      s.once('data', () => {
        let sent = 0;
        // 512-byte pieces, one per turn of the loop: each relayed write is small
        const pump = (): void => {
          if (sent >= TOTAL) return void s.end();
          sent += 512;
          s.write(Buffer.alloc(512, 1));
          setTimeout(pump, 1);
        };
        pump();
      });
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => far.listen(0, '127.0.0.1', r));
    const client = new HeldClient();
    let result: TunnelResult | null = null;
    try {
      const closed = new Promise<void>((resolve) => {
        openTunnel(
          client,
          Buffer.from('scopegate-test\r\n'),
          { host: '127.0.0.1', port: (far.address() as AddressInfo).port },
          'D-test',
          {
            track: () => {},
            onOpen: () => {},
            onClose: (r) => {
              result = r;
              resolve();
            },
            inspectFirst: () => 'relay',
            intercept: () => {},
            readHttp: () => {},
          },
          5_000,
          true,
        );
      });
      // hold the client's writes while the far end sends a few pieces, then let them through
      await new Promise((r) => setTimeout(r, 100));
      expect(client.held.length).toBeGreaterThan(0);
      client.release();
      const deadline = Date.now() + 10_000;
      while (client.received < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(client.received).toBe(TOTAL);
      client.destroy();
      await closed;
      expect(result).toMatchObject({ established: true });
    } finally {
      client.destroy();
      far.close();
    }
  });
});
