import { isUtf8 } from 'node:buffer';

/** A Content-Type header read strictly: the media type and its parameters, names lower-cased. */
export interface ContentType {
  /** Lower-case `type/subtype`, or '' when the header is absent or empty. */
  type: string;
  params: ReadonlyMap<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parse a Content-Type value (RFC 9110 §8.3) strictly: one media type, each parameter once. */
export function parseContentType(header: string | undefined): ContentType | { problem: string } {
  if (header === undefined || header.trim() === '') return { type: '', params: new Map() };
  const parsed = parseParameterised(header);
  if ('problem' in parsed) return { problem: `the Content-Type ${parsed.problem}` };
  // one type/subtype: a list ("a, b") is read as its first type by some servers, its last or none by others
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(parsed.value)) return { problem: `the Content-Type "${header.slice(0, 80)}" is not one media type; servers read a list or a malformed type differently; send one` };
  return { type: parsed.value, params: parsed.params };
}

/**
 * A header value of the form `value; name=token; name="quoted"` (Content-Type, Content-Disposition):
 * the value lower-cased and the parameters by lower-cased name. A parameter given twice, or one that
 * cannot be read, is an error rather than a guess: servers disagree on which of two charsets,
 * boundaries or names counts.
 */
export function parseParameterised(header: string): { value: string; params: ReadonlyMap<string, string> } | { problem: string } {
  const params = new Map<string, string>();
  const semi = header.indexOf(';');
  const value = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  let rest = semi < 0 ? '' : header.slice(semi + 1);
  while (rest.trim() !== '') {
    const m = /^[ \t]*([^=;]*?)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^;]*?)[ \t]*(?:;|$)/.exec(rest);
    if (!m) {
      // a parameter without "=": ignored by every parser we know of, as long as it is a bare token
      const bare = /^[ \t]*([^;]*?)[ \t]*(?:;|$)/.exec(rest)!;
      if (bare[1] !== '' && !TOKEN.test(bare[1]!)) return { problem: `parameter "${bare[1]!.slice(0, 40)}" cannot be read` };
      rest = rest.slice(bare[0].length);
      continue;
    }
    const name = m[1]!.toLowerCase();
    if (!TOKEN.test(name)) return { problem: `parameter name "${m[1]!.slice(0, 40)}" cannot be read` };
    if (params.has(name)) return { problem: `gives "${name}" more than once; servers disagree on which one counts` };
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params.set(name, v);
    rest = rest.slice(m[0].length);
  }
  return { value, params };
}

/** Charsets whose bytes every reader turns into the same text as UTF-8 does. */
const UTF8_NAMES = new Set(['utf-8', 'utf8']);
const ASCII_NAMES = new Set(['us-ascii', 'ascii']);

/**
 * Whether a body in this charset reads the same to scopegate (UTF-8) as to any server. Another
 * charset is refused, not decoded: a server that honours shift_jis or gbk reads a different
 * document out of the same bytes (a lead byte swallows the backslash or quote after it), and an
 * ASCII reader may drop the high bit of a byte (0xA2 becomes a quote). Bytes that are not valid
 * UTF-8 are refused too, since readers replace broken sequences in different ways.
 */
export function charsetProblem(charset: string | undefined, body: Buffer, what: string): string | null {
  const name = charset?.trim().toLowerCase();
  if (name !== undefined && !UTF8_NAMES.has(name)) {
    if (!ASCII_NAMES.has(name)) {
      return `${what} is in charset "${charset!.slice(0, 40)}": scopegate reads UTF-8 only, and a server that honours another charset can read a different document out of the same bytes; send UTF-8`;
    }
    for (const b of body) if (b >= 0x80) return `${what} is declared ${charset!.slice(0, 40)} but holds bytes above 0x7F, which readers decode differently; send UTF-8`;
  }
  if (!isUtf8(body)) return `${what} is not valid UTF-8; readers replace broken sequences differently, so it cannot be judged`;
  return null;
}
