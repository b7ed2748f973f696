import { charsetProblem, parseContentType, parseParameterised } from './content-type.js';

const MAX_PARTS = 1000;
const ACCEPTED_TRANSFER_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

/**
 * Walk a multipart/form-data body strictly (RFC 7578: CRLF line ends, a boundary line before each
 * part, headers, a blank line) and say why servers could read its fields differently, or null.
 * Parsers disagree on a field's own charset, on Content-Transfer-Encoding (base64 and
 * quoted-printable are decoded by some and kept by others) and on the `_charset_` field, and a
 * body that is not strictly well formed is where their framing differs; each is refused. File
 * parts (those with a filename) may hold any bytes: only variables can point at them.
 */
export function checkMultipartParts(body: Buffer, boundary: string | undefined): string | null {
  if (boundary === undefined || boundary === '' || boundary.length > 70) return 'the multipart body has no usable boundary (1 to 70 characters)';
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  if (!text.startsWith(`${delimiter}\r\n`)) return 'the multipart body does not start with its boundary line (a preamble or a bare LF is read differently by different servers)';
  let at = delimiter.length + 2;
  for (let parts = 0; parts < MAX_PARTS; parts++) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return 'a multipart part has no end to its headers';
    const next = text.indexOf(`\r\n${delimiter}`, headEnd + 4);
    if (next < 0) return 'a multipart part is not closed by the boundary';
    const problem = partHeadersProblem(text.slice(at, headEnd), body.subarray(headEnd + 4, next));
    if (problem) return problem;
    at = next + 2 + delimiter.length;
    if (text.startsWith('--', at)) {
      const epilogue = text.slice(at + 2);
      return epilogue === '' || epilogue === '\r\n' ? null : 'the multipart body has bytes after its closing boundary';
    }
    if (!text.startsWith('\r\n', at)) return 'a multipart boundary line has text after the boundary';
    at += 2;
  }
  return `the multipart body has more than ${MAX_PARTS} parts`;
}

function partHeadersProblem(head: string, content: Buffer): string | null {
  let name: string | null = null;
  let isFile = false;
  let charset: string | undefined;
  const seen = new Set<string>();
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line)) return 'a multipart part header is folded over two lines';
    const colon = line.indexOf(':');
    if (colon <= 0) return 'a multipart part has a header line that cannot be read';
    const field = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (seen.has(field)) return `a multipart part has two ${field} headers`;
    seen.add(field);
    if (field === 'content-transfer-encoding') {
      if (!ACCEPTED_TRANSFER_ENCODINGS.has(value.toLowerCase())) return `a multipart part is sent with Content-Transfer-Encoding ${value.slice(0, 30)}, which servers decode differently; send it unencoded`;
    } else if (field === 'content-type') {
      const ct = parseContentType(value);
      if ('problem' in ct) return `a multipart part: ${ct.problem}`;
      charset = ct.params.get('charset');
    } else if (field === 'content-disposition') {
      const cd = parseParameterised(value);
      if ('problem' in cd) return 'a multipart part has a Content-Disposition that cannot be read';
      if (cd.params.has('name*') || cd.params.has('filename*')) return 'a multipart part names itself with an encoded name (name*=/filename*=), which servers decode differently';
      name = cd.params.get('name') ?? null;
      isFile = cd.params.has('filename');
    }
  }
  if (name === '_charset_') return 'the multipart body names its own charset (_charset_), which some servers honour; send UTF-8 without it';
  if (isFile) return null;
  return charsetProblem(charset, content, `the multipart field "${(name ?? '').slice(0, 40)}"`);
}
