/**
 * Read the server name (SNI) out of the first bytes a client sends: a TLS ClientHello, possibly
 * split over several records and reads. Pure: bytes in, a verdict out; no socket here.
 */
export type HelloVerdict =
  | { kind: 'need-more' }
  | { kind: 'not-tls' }
  | { kind: 'malformed'; reason: string }
  | { kind: 'hello'; sni: string | null; alpn: string[] };

/** A ClientHello larger than this is not one a real client sends (post-quantum ones are ~1.8 KiB). */
export const MAX_HELLO_BYTES = 16 * 1024;

export function parseClientHello(buf: Buffer): HelloVerdict {
  if (buf.length === 0) return { kind: 'need-more' };
  if (buf[0] !== 0x16) return { kind: 'not-tls' };
  // gather the handshake bytes from consecutive handshake records
  const handshake: Buffer[] = [];
  let offset = 0;
  let total = 0;
  let needed = -1;
  while (offset + 5 <= buf.length) {
    if (buf[offset] !== 0x16) return { kind: 'malformed', reason: 'a non-handshake record before the ClientHello ended' };
    const len = buf.readUInt16BE(offset + 3);
    if (len === 0 || len > 16_384 + 2048) return { kind: 'malformed', reason: 'a TLS record with an impossible length' };
    if (offset + 5 + len > buf.length) break;
    handshake.push(buf.subarray(offset + 5, offset + 5 + len));
    total += len;
    offset += 5 + len;
    if (needed < 0 && total >= 4) {
      const hs = Buffer.concat(handshake);
      if (hs[0] !== 0x01) return { kind: 'malformed', reason: 'the first handshake message is not a ClientHello' };
      needed = 4 + hs.readUIntBE(1, 3);
      if (needed > MAX_HELLO_BYTES) return { kind: 'malformed', reason: 'the ClientHello is too large' };
    }
    if (needed >= 0 && total >= needed) break;
  }
  if (needed < 0 || total < needed) {
    return buf.length >= MAX_HELLO_BYTES + 5 * 8 ? { kind: 'malformed', reason: 'the ClientHello is too large' } : { kind: 'need-more' };
  }
  const hello = Buffer.concat(handshake).subarray(4, needed);
  try {
    return readHello(hello);
  } catch {
    return { kind: 'malformed', reason: 'the ClientHello is truncated inside' };
  }
}

function readHello(h: Buffer): HelloVerdict {
  let p = 2 + 32; // client_version, random
  const take = (n: number): Buffer => {
    if (p + n > h.length) throw new RangeError('truncated');
    const b = h.subarray(p, p + n);
    p += n;
    return b;
  };
  take(take(1)[0]!); // session id
  take(take(2).readUInt16BE(0)); // cipher suites
  take(take(1)[0]!); // compression methods
  if (p === h.length) return { kind: 'hello', sni: null, alpn: [] };
  const extEnd = p + 2 + take(2).readUInt16BE(0);
  if (extEnd > h.length) throw new RangeError('truncated');
  let sni: string | null = null;
  let alpn: string[] = [];
  const seen = new Set<number>();
  while (p < extEnd) {
    const type = take(2).readUInt16BE(0);
    const data = take(take(2).readUInt16BE(0));
    // a repeated extension is forbidden (RFC 8446 §4.2); two SNI answers would be two truths
    if (seen.has(type)) return { kind: 'malformed', reason: `extension ${type} appears twice` };
    seen.add(type);
    if (type === 0x0000) {
      const listLen = data.readUInt16BE(0);
      if (listLen + 2 !== data.length) return { kind: 'malformed', reason: 'a bad server_name list' };
      let q = 2;
      const names: string[] = [];
      while (q < data.length) {
        const nameType = data[q]!;
        const len = data.readUInt16BE(q + 1);
        const name = data.subarray(q + 3, q + 3 + len);
        if (name.length !== len) return { kind: 'malformed', reason: 'a truncated server name' };
        if (nameType === 0) names.push(name.toString('latin1'));
        q += 3 + len;
      }
      if (names.length !== 1) return { kind: 'malformed', reason: `${names.length} host names in server_name` };
      sni = names[0]!;
      if (!/^[\x21-\x7e]+$/.test(sni)) return { kind: 'malformed', reason: 'a server name with characters no host name has' };
    } else if (type === 0x0010) {
      alpn = [];
      let q = 2;
      while (q < data.length) {
        const len = data[q]!;
        alpn.push(data.subarray(q + 1, q + 1 + len).toString('latin1'));
        q += 1 + len;
      }
    }
  }
  return { kind: 'hello', sni, alpn };
}
