import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { extractGraphQL } from '../../src/graphql/request.js';
import type { HttpRequestView } from '../../src/inspect/request-view.js';
import { charsetProblem, parseContentType } from '../../src/inspect/content-type.js';
import { checkMultipartParts } from '../../src/inspect/multipart-parts.js';
import { splitTarget } from '../../src/inspect/request-target.js';
import { headerProblem } from '../../src/inspect/request-headers.js';

/**
 * The reading rules of issue 15: a request that two servers could read differently is refused
 * (unjudgeable), and the same call spelled plainly is still read. Each refusal is paired with the
 * plain spelling that must go on being judged, so a rule that refused everything would fail here.
 */
const EVIL = 'mutation($v: String = "vol-A") { volumeDelete(volumeId: $v) }';
const view = (over: Partial<HttpRequestView>): HttpRequestView => ({ method: 'POST', url: '/graphql/v2', contentType: 'application/json', body: Buffer.from(JSON.stringify({ query: EVIL })), ...over });
const enc = encodeURIComponent;

async function kind(v: HttpRequestView): Promise<string> {
  const r = await extractGraphQL(v);
  return r.kind === 'unjudgeable' ? `unjudgeable: ${r.reason}` : r.kind;
}

describe('parameters in two places', () => {
  it('the plain POST is read', async () => {
    expect(await kind(view({}))).toBe('graphql');
    expect(await kind(view({ url: '/graphql/v2?trace=1' }))).toBe('graphql');
  });
  for (const [name, query] of [
    ['variables in the URL', `variables=${enc('{"v":"vol-B"}')}`],
    ['operationName in the URL', 'operationName=Other'],
    ['query in the URL', `query=${enc('{ me { id } }')}`],
    ['extensions in the URL', `extensions=${enc('{}')}`],
    ['bracketed variables in the URL', 'variables[v]=vol-B'],
    ['percent-encoded bracket', 'variables%5Bv%5D=vol-B'],
    ['percent-encoded key', `%76ariables=${enc('{"v":"vol-B"}')}`],
    ['dotted variables', 'variables.v=vol-B'],
  ] as const) {
    it(`a POST with ${name} is refused`, async () => {
      expect(await kind(view({ url: `/graphql/v2?${query}` }))).toMatch(/^unjudgeable/);
    });
  }
  it('a GET with a body is refused; the same GET without one is read', async () => {
    const url = `/graphql/v2?query=${enc('{ me { id } }')}`;
    expect(await kind(view({ method: 'GET', url, body: Buffer.from(JSON.stringify({ query: EVIL })) }))).toMatch(/unjudgeable: a GET request with a body/);
    expect(await kind(view({ method: 'GET', url, body: Buffer.alloc(0) }))).toBe('graphql');
  });
  it('qs-style keys in a GET query string or a form body are refused', async () => {
    expect(await kind(view({ method: 'GET', url: `/graphql/v2?query=${enc(EVIL)}&variables[v]=vol-B`, body: Buffer.alloc(0) }))).toMatch(/^unjudgeable/);
    expect(await kind(view({ method: 'GET', url: `/graphql/v2?query[]=${enc(EVIL)}`, body: Buffer.alloc(0) }))).toMatch(/^unjudgeable/);
    const form = (extra: string): HttpRequestView => view({ contentType: 'application/x-www-form-urlencoded', body: Buffer.from(`query=${enc(EVIL)}${extra}`) });
    expect(await kind(form(''))).toBe('graphql');
    expect(await kind(form('&variables[v]=vol-B'))).toMatch(/^unjudgeable/);
    expect(await kind(form('&_charset_=shift_jis'))).toMatch(/^unjudgeable/);
  });
  it('two Content-Type or Content-Encoding headers, or a method override, are refused', () => {
    expect(headerProblem(['Content-Type', 'application/json', 'Host', 'x'])).toBeNull();
    expect(headerProblem(['Content-Type', 'application/json', 'content-type', 'text/plain'])).toMatch(/more than one content-type/);
    expect(headerProblem(['Content-Encoding', 'gzip', 'Content-Encoding', 'br'])).toMatch(/more than one content-encoding/);
    expect(headerProblem(['X-HTTP-Method-Override', 'GET'])).toMatch(/another method/);
    expect(headerProblem(['X-Method-Override', 'GET'])).toMatch(/another method/);
  });
});

describe('charsets', () => {
  // 0x95 0x5C is one shift_jis character: the backslash is swallowed, so the string ends one quote earlier
  const sjisBody = Buffer.concat([Buffer.from('{"query":"{ me { id } }","x":"'), Buffer.from([0x95, 0x5c]), Buffer.from(`","query":${JSON.stringify(EVIL)}}`)]);
  for (const charset of ['shift_jis', 'Shift_JIS', 'gbk', 'big5', 'euc-jp', 'utf-16le', 'iso-8859-1', 'latin1', 'windows-1252', '"gbk"']) {
    it(`JSON, application/graphql, form and text/plain in charset=${charset} are refused`, async () => {
      for (const type of ['application/json', 'application/graphql', 'application/x-www-form-urlencoded', 'text/plain', 'application/graphql-response+json']) {
        expect(await kind(view({ contentType: `${type}; charset=${charset}` }))).toMatch(/unjudgeable: the body is in charset/);
      }
      // an unknown type too: a lenient server might read it as JSON in that charset
      expect(await kind(view({ contentType: `application/x-thing; charset=${charset}` }))).toMatch(/^unjudgeable/);
    });
  }
  it('UTF-8 spelled every usual way is read', async () => {
    for (const charset of ['utf-8', 'UTF-8', 'utf8', '"utf-8"', 'us-ascii', 'ASCII']) {
      expect(await kind(view({ contentType: `application/json; charset=${charset}` }))).toBe('graphql');
      expect(await kind(view({ contentType: `application/json;charset=${charset}` }))).toBe('graphql');
    }
  });
  it('bytes above 0x7F under us-ascii, invalid UTF-8, and a charset given twice are refused', async () => {
    const high = Buffer.from('{"query":"{ me { id } }","x":"\u00e9"}');
    expect(await kind(view({ contentType: 'application/json; charset=us-ascii', body: high }))).toMatch(/bytes above 0x7F/);
    expect(await kind(view({ contentType: 'application/json; charset=utf-8', body: high }))).toBe('graphql');
    expect(await kind(view({ body: sjisBody }))).toMatch(/not valid UTF-8/);
    expect(await kind(view({ contentType: 'text/plain', body: sjisBody }))).toMatch(/not valid UTF-8/);
    expect(await kind(view({ contentType: 'application/json; charset=utf-8; charset=shift_jis' }))).toMatch(/more than once/);
  });
  it('a gzip body is judged on its decoded bytes: the charset rules still apply after decoding (the pipeline decodes first)', () => {
    // the view's body is already decoded; this asserts the rule is a function of those bytes
    expect(charsetProblem('shift_jis', gzipSync('x'), 'b')).toMatch(/charset/);
    expect(charsetProblem(undefined, Buffer.from('plain'), 'b')).toBeNull();
  });
  it('parseContentType reads quoted values and refuses what cannot be read', () => {
    const ct = parseContentType('Multipart/Form-Data; boundary="a;b c"; charset=UTF-8');
    expect(ct).toEqual({ type: 'multipart/form-data', params: new Map([['boundary', 'a;b c'], ['charset', 'UTF-8']]) });
    expect(parseContentType('application/json; ch@rset=x')).toHaveProperty('problem');
    expect(parseContentType(undefined)).toEqual({ type: '', params: new Map() });
    // a list of types: Yoga reads the first, others the last or none (found by the differential harness)
    expect(parseContentType('application/graphql, application/x-www-form-urlencoded')).toHaveProperty('problem');
    expect(parseContentType('application/json, text/plain; charset=utf-8')).toHaveProperty('problem');
    expect(parseContentType('application/json;charset=utf-8')).toMatchObject({ type: 'application/json' });
  });
});

describe('multipart, part by part', () => {
  const b = 'sgb';
  const part = (headers: string, content: string | Buffer): Buffer => Buffer.concat([Buffer.from(`--${b}\r\n${headers}\r\n\r\n`), Buffer.from(content), Buffer.from('\r\n')]);
  const ops = JSON.stringify({ query: EVIL, variables: { f: null } });
  const body = (...parts: Buffer[]): Buffer => Buffer.concat([...parts, Buffer.from(`--${b}--\r\n`)]);
  const mp = (bytes: Buffer): HttpRequestView => view({ contentType: `multipart/form-data; boundary=${b}`, body: bytes });
  const opsPart = part('Content-Disposition: form-data; name="operations"', ops);
  const mapPart = part('Content-Disposition: form-data; name="map"', '{"0":["variables.f"]}');
  const filePart = part('Content-Disposition: form-data; name="0"; filename="x"\r\nContent-Type: application/octet-stream', Buffer.from([0xff, 0x00, 0x95]));

  it('the spec form is read, a binary file included', async () => {
    expect(await kind(mp(body(opsPart, mapPart, filePart)))).toBe('graphql');
    expect(checkMultipartParts(body(opsPart, mapPart, filePart), b)).toBeNull();
  });
  for (const [name, bad] of [
    ['a part in shift_jis', part('Content-Disposition: form-data; name="operations"\r\nContent-Type: application/json; charset=shift_jis', ops)],
    ['a part in base64', part('Content-Disposition: form-data; name="operations"\r\nContent-Transfer-Encoding: base64', Buffer.from(ops).toString('base64'))],
    ['a part in quoted-printable', part('Content-Disposition: form-data; name="operations"\r\nContent-Transfer-Encoding: quoted-printable', ops)],
    ['an encoded part name', part("Content-Disposition: form-data; name*=utf-8''operations", ops)],
    ['a _charset_ field', part('Content-Disposition: form-data; name="_charset_"', 'shift_jis')],
    ['a field that is not UTF-8', part('Content-Disposition: form-data; name="x"', Buffer.from([0x95, 0x5c]))],
    ['two Content-Disposition headers', part('Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="operations"', ops)],
    ['a folded header', part('Content-Disposition: form-data;\r\n name="operations"', ops)],
  ] as const) {
    it(`${name} is refused`, async () => {
      expect(await kind(mp(body(bad, opsPart, mapPart, filePart)))).toMatch(/^unjudgeable/);
    });
  }
  it('a preamble, LF-only lines, text after the end or a missing boundary are refused', async () => {
    const good = body(opsPart, mapPart, filePart);
    expect(await kind(mp(Buffer.concat([Buffer.from('preamble\r\n'), good])))).toMatch(/^unjudgeable/);
    expect(await kind(mp(Buffer.from(good.toString('latin1').replace(/\r\n/g, '\n'), 'latin1')))).toMatch(/^unjudgeable/);
    expect(await kind(mp(Buffer.concat([good, Buffer.from('--sgb\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n')])))).toMatch(/^unjudgeable/);
    expect(await kind(view({ contentType: 'multipart/form-data', body: good }))).toMatch(/^unjudgeable/);
  });
});

describe('what counts as the URL', () => {
  const q = `query=${enc('{ me { id } }')}`;
  it('a plain target splits at its one "?"', () => {
    expect(splitTarget(`/graphql/v2?${q}`)).toEqual({ path: '/graphql/v2', query: q });
    expect(splitTarget('/graphql/v2')).toEqual({ path: '/graphql/v2', query: '' });
  });
  for (const [name, url] of [
    ['a fragment', `/graphql/v2?${q}#&query=${enc(EVIL)}`],
    ['a fragment in the path', `/graphql/v2#x?${q}`],
    ['a ";" parameter', `/graphql/v2?${q};query=${enc(EVIL)}`],
    ['a ";" in the path', `/graphql/v2;x=1?${q}`],
    ['a repeated "?"', `/graphql/v2?x=1?${q}`],
    ['an encoded "?" in the path', `/graphql/v2%3F${q}`],
    ['an encoded "#" in the path', `/graphql/v2%23?${q}`],
    ['a backslash', `/graphql\\v2?${q}`],
    ['a malformed percent-escape', `/graphql/v2?${q}&x=%E0%A4`],
    ['a broken escape in the query', `/graphql/v2?query=%7Bme%7B%ZZid%7D%7D`],
  ] as const) {
    it(`${name} is refused, on GET and POST alike`, async () => {
      expect(await kind(view({ method: 'GET', url, body: Buffer.alloc(0) }))).toMatch(/^unjudgeable/);
      expect(await kind(view({ url }))).toMatch(/^unjudgeable/);
    });
  }
});
