/**
 * Read the head of a cleartext HTTP request the way Node's parser (llhttp) would accept one, and
 * more loosely where other servers are looser: every name the request could be routed by is
 * returned, so a tunnel cannot carry a request whose host scopegate did not see. Pure: bytes in,
 * a verdict out.
 */
export type RequestHeadVerdict =
  | { kind: 'need-more' }
  /** Not an HTTP request line: some other protocol, relayed as it is. */
  | { kind: 'not-http' }
  /** The HTTP/2 prior-knowledge preface: its :authority is HPACK-encoded, not read here. */
  | { kind: 'h2-preface' }
  /** A head scopegate will not guess around (folded or malformed lines, two Host headers). */
  | { kind: 'unreadable'; reason: string }
  /**
   * `authorities`: the request-target's authority (absolute- or authority-form) and the Host
   * header, as written, in that order. `versionless`: an HTTP/0.9-style line, which has no headers.
   */
  | { kind: 'request'; method: string; authorities: string[]; hasHost: boolean; versionless: boolean };

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TCHAR_PREFIX = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$/;
const VERSION = /^[A-Z]+\/[0-9]\.[0-9]$/;
/** A line is never longer than the first-bytes cap; the window only bounds the string made here. */
const WINDOW = 16 * 1024 + 64;

export function readRequestHead(buf: Buffer): RequestHeadVerdict {
  // llhttp skips empty lines before a request line (RFC 9112 §2.2 allows servers to)
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  if (start === buf.length) return { kind: 'need-more' };
  const text = buf.subarray(start, start + WINDOW).toString('latin1');

  const lineEnd = text.indexOf('\n');
  let line = lineEnd < 0 ? text : text.slice(0, lineEnd);
  // a CR at the very end of what has come may be the first half of CRLF
  if (line.endsWith('\r')) line = line.slice(0, -1);
  // llhttp takes runs of spaces between the parts; other servers take tabs and trailing blanks too
  const parts = line.split(/[ \t]+/);
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  const method = parts[0]!;
  if (!TCHAR_PREFIX.test(method) || method === '') return { kind: 'not-http' };
  if (line.includes('\r')) return parts.length > 1 ? { kind: 'unreadable', reason: 'a bare CR in the request line' } : { kind: 'not-http' };
  // still a prefix of "TOKEN SP target SP VERSION": wait for the rest of the line
  if (lineEnd < 0) return couldBeRequestLine(parts) ? { kind: 'need-more' } : { kind: 'not-http' };
  if (parts.length < 2 || parts.length > 3) return { kind: 'not-http' };
  const target = parts[1]!;
  if (parts.length === 2) {
    // "GET /path" without a version is HTTP/0.9 to llhttp; other protocols' commands look alike
    const authority = targetAuthority(method, target);
    return authority === null ? { kind: 'not-http' } : { kind: 'request', method, authorities: [authority], hasHost: false, versionless: true };
  }
  if (!VERSION.test(parts[2]!)) return { kind: 'not-http' };
  if (method === 'PRI' && target === '*' && parts[2] === 'HTTP/2.0') return { kind: 'h2-preface' };

  const authorities: string[] = [];
  const fromTarget = targetAuthority(method, target);
  if (fromTarget !== null) authorities.push(fromTarget);
  let hosts = 0;
  let p = lineEnd + 1;
  for (;;) {
    const nl = text.indexOf('\n', p);
    if (nl < 0) return { kind: 'need-more' };
    const raw = text.slice(p, nl);
    p = nl + 1;
    const header = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (header === '') break;
    if (header.includes('\r')) return { kind: 'unreadable', reason: 'a bare CR in a header line' };
    if (header.startsWith(' ') || header.startsWith('\t')) return { kind: 'unreadable', reason: 'a header line folded onto the one before (obs-fold)' };
    const colon = header.indexOf(':');
    const name = colon < 0 ? '' : header.slice(0, colon);
    // "Host : x" is an error to llhttp and a Host header to some other servers
    if (!TCHAR.test(name)) return { kind: 'unreadable', reason: `a header line that is not "name: value" (${JSON.stringify(header.slice(0, 40))})` };
    if (name.toLowerCase() !== 'host') continue;
    if (++hosts > 1) return { kind: 'unreadable', reason: 'two Host headers' };
    authorities.push(header.slice(colon + 1).trim());
  }
  return { kind: 'request', method, authorities, hasHost: hosts > 0, versionless: false };
}

/** Could more bytes still make this unfinished line "TOKEN SP target SP VERSION"? */
function couldBeRequestLine(parts: string[]): boolean {
  if (parts.length > 3) return false;
  return parts.length < 3 || /^[A-Z]*(\/([0-9](\.[0-9]?)?)?)?$/.test(parts[2]!);
}

/**
 * The authority an absolute-form (`POST http://host/x`) or authority-form (`CONNECT host:443`)
 * request-target names, userinfo dropped; null for origin-form (`/x`) and `*`.
 */
export function targetAuthority(method: string, target: string): string | null {
  if (method.toUpperCase() === 'CONNECT') return target;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
  if (!m) return null;
  const authority = m[1]!;
  return authority.slice(authority.lastIndexOf('@') + 1);
}
