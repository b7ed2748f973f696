/**
 * The request generator of the differential harness (test/unit/differential-servers.test.ts):
 * raw HTTP requests that put GraphQL parameters wherever some server might look for them, in
 * spellings servers read differently. Every document mixes a harmless read with the destructive
 * `volumeDelete`, and every place gets its own volume id (vol-url1, vol-body2, …), so a reader that
 * takes a parameter from the wrong place shows up as a different id, not as a coincidence.
 *
 * Only String/ID arguments are used, so what a server executes can be compared with what scopegate
 * read without any schema coercion in between.
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { GRAPHQL_PATH } from './graphql-servers.js';
import type { RawRequest } from './raw-request.js';

export interface Generated {
  request: RawRequest;
  /** What the generator chose, for the report: which shapes the disagreements have. */
  tags: string[];
}

type Place = 'url' | 'body' | 'part';
interface Params {
  query?: string;
  /** an object of variables, or an odd JSON value in their place (null, a list, "null") */
  variables?: Record<string, unknown> | null | unknown[] | string;
  /** null only in JSON */
  operationName?: string | null;
  extensions?: string;
}

const READS = ['{ me { id } }', 'query R { me { id } }', '{ project(id: "prj-1") { id } }', 'query R { me { id } project(id: "prj-2") { id } }'];
/** Documents the generator also sends whole with their hash, so later hash-only requests can name them. */
const PERSISTABLE = ['{ me { id } }', 'mutation { volumeDelete(volumeId: "vol-persisted") }', 'mutation V($volumeId: String!) { volumeDelete(volumeId: $volumeId) }'];
const CHARSETS = ['utf-8', 'UTF8', '"utf-8"', 'us-ascii', 'latin1', 'iso-8859-1', 'shift_jis', 'gbk', 'big5', 'euc-jp', 'utf-16le'];
const BOUNDARY = 'sgBoundary7MA4YWxk';

/** Uniform integers: fast-check's bias towards the bounds would turn every rare shape into a common one. */
const uniform = (max: number): fc.Arbitrary<number> => fc.noBias(fc.integer({ min: 0, max }));

class Builder {
  private n = 0;
  readonly tags: string[] = [];
  constructor(private readonly g: fc.GeneratorValue) {}

  int(max: number): number {
    return max <= 1 ? 0 : this.g(uniform, max - 1);
  }
  /** true with probability p. */
  chance(p: number): boolean {
    return this.g(uniform, 999) >= 1000 - p * 1000;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  tag(t: string): void {
    this.tags.push(t);
  }
  id(place: Place): string {
    if (!this.chance(0.08)) return `vol-${place}${++this.n}`;
    // multi-byte UTF-8 in an id: a chunk boundary inside it tells apart readers that decode each chunk alone
    this.tag('id:non-ascii');
    return `vol-${place}${++this.n}${this.pick(['é', '日本', '🚀'])}`;
  }

  /** A document: a read, the destructive mutation (literal id or variable), or both as named operations. */
  query(place: Place): string {
    if (this.chance(0.04)) {
      this.tag('doc:subscription');
      return `subscription { deployment(id: "${this.id(place).replace('vol', 'dep')}") { id } }`;
    }
    switch (this.int(5)) {
      case 0:
        return this.chance(0.15) ? this.pick(PERSISTABLE) : this.pick(READS);
      case 1:
        return `mutation { volumeDelete(volumeId: "${this.id(place)}") }`;
      case 2:
        return `mutation M { volumeDelete(volumeId: "${this.id(place)}") }`;
      case 3:
        return 'mutation V($volumeId: String!) { volumeDelete(volumeId: $volumeId) }';
      default:
        return `query R { me { id } } mutation M { volumeDelete(volumeId: "${this.id(place)}") } mutation V($volumeId: String!) { volumeDelete(volumeId: $volumeId) }`;
    }
  }

  /** A partial parameter set for one place: each parameter present or not, independently. */
  params(place: Place, pQuery: number): Params {
    const p: Params = {};
    if (this.chance(pQuery)) p.query = this.query(place);
    else if (this.chance(0.08)) {
      // a hash alone: servers with automatic persisted queries run what an earlier request taught them
      this.tag('params:persisted-hash-only');
      p.extensions = JSON.stringify({ persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(this.pick(PERSISTABLE)).digest('hex') } });
    }
    if (this.chance(0.5)) p.variables = this.chance(0.93) ? { volumeId: this.id(place) } : this.pick([null, [], 'null', '']);
    if (this.chance(0.35)) p.operationName = this.chance(0.9) ? this.pick(['R', 'M', 'V']) : this.pick(['', 'X', null]);
    if (p.variables !== undefined && typeof p.variables !== 'object') this.tag('params:odd-variables');
    if (p.operationName === '' || p.operationName === 'X' || p.operationName === null) this.tag('params:odd-operationName');
    if (p.extensions === undefined && this.chance(0.1)) p.extensions = this.chance(0.5) && p.query ? JSON.stringify({ persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(p.query).digest('hex') } }) : '{}';
    return p;
  }

  /** One query-string value, in one of the encodings clients use. */
  encodeValue(v: string): string {
    switch (this.int(4)) {
      case 0:
        return encodeURIComponent(v).replace(/%20/g, '+');
      case 1: // only what would break the request line or the parameter list
        return v.replace(/[%&#+ ?;]|[^\x00-\x7f]+/gu, (c) => (c.length > 1 || c.charCodeAt(0) > 0x7f ? encodeURIComponent(c) : `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`));
      default:
        return encodeURIComponent(v);
    }
  }

  key(k: string): string {
    if (!this.chance(0.12)) return k;
    this.tag('url:encoded-key');
    const i = this.int(k.length);
    return k.slice(0, i) + `%${k.charCodeAt(i).toString(16).toUpperCase()}` + k.slice(i + 1);
  }

  /** The URL's parameter pairs: the parameter set, plus duplicates and bracketed keys. */
  urlPairs(p: Params): [string, string][] {
    const pairs: [string, string][] = [];
    if (p.query !== undefined) pairs.push([this.key('query'), p.query]);
    if (p.variables !== undefined) {
      const v = p.variables;
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && this.chance(0.2)) {
        this.tag('url:variables[key]');
        pairs.push([this.chance(0.3) ? 'variables%5BvolumeId%5D' : 'variables[volumeId]', String(v['volumeId'])]);
      } else pairs.push([this.key('variables'), typeof v === 'string' ? v : JSON.stringify(v)]);
    }
    if (p.operationName !== undefined) pairs.push([this.key('operationName'), p.operationName ?? '']);
    if (p.extensions !== undefined) pairs.push(['extensions', p.extensions]);
    if (this.chance(0.12)) {
      this.tag('url:duplicate');
      pairs.push([this.pick(['query', 'variables', 'operationName']), this.pick([this.query('url'), JSON.stringify({ volumeId: this.id('url') }), 'M'])]);
    }
    if (this.chance(0.06)) {
      this.tag('url:query[]');
      pairs.push(['query[]', this.query('url')]);
    }
    // order matters to first-wins and last-wins readers alike
    if (pairs.length > 1 && this.chance(0.3)) pairs.reverse();
    return pairs;
  }

  /** The request-target: path, the parameters, and the spellings servers split differently. */
  target(pairs: [string, string][]): string {
    let path = this.path();
    if (this.chance(0.02)) {
      this.tag('target:path;param');
      path += `;query=${encodeURIComponent(this.query('url'))}`;
    }
    if (this.chance(0.02)) {
      this.tag('target:%3F');
      path += `%3Fquery=${encodeURIComponent(this.query('url'))}`;
    }
    const encoded = pairs.map(([k, v]) => {
      if (k === 'query' && this.chance(0.04)) {
        // decoders differ on a broken escape: skip it, keep the raw value, or fail the whole value
        this.tag('url:broken-escape');
        return `${k}=${this.encodeValue(v)}%20%23%zz%0A`;
      }
      return `${k}=${this.encodeValue(v)}`;
    });
    let search = '';
    for (const [i, e] of encoded.entries()) {
      if (i === 0) search = e;
      else if (this.chance(0.03)) {
        this.tag('target:;-separator');
        search += `;${e}`;
      } else if (this.chance(0.03)) {
        this.tag('target:repeated-?');
        search += `?${e}`;
      } else search += `&${e}`;
    }
    let t = search ? `${path}?${search}` : path;
    if (this.chance(0.02)) {
      this.tag('target:repeated-?');
      t += `?query=${encodeURIComponent(this.query('url'))}`;
    }
    if (this.chance(0.03)) {
      this.tag('target:fragment');
      t += `#&query=${encodeURIComponent(this.query('url'))}`;
    }
    if (this.chance(0.05)) {
      this.tag('target:absolute-form');
      t = `http://backboard.railway.com${t}`;
    }
    return t;
  }

  /** Railway's path, or a spelling of it some routers accept; or no '?' at all, with parameters after '&'. */
  path(): string {
    if (!this.chance(0.15)) return GRAPHQL_PATH;
    const p = this.pick(['/graphql/v2/', '//graphql/v2', '/graphql/../graphql/v2', '/graphql%2Fv2', '/GRAPHQL/V2', 'amp']);
    this.tag(`target:path:${p}`);
    // a reader that takes everything after the first '?' (or the whole URL when there is none) as the query string
    return p === 'amp' ? `${GRAPHQL_PATH}&query=${encodeURIComponent(`mutation { volumeDelete(volumeId: "${this.id('url')}") } #`)}` : p;
  }

  /** The same media type spelt in ways servers match differently: case, a list, a parameter naming another type. */
  contentTypeVariant(base: string): string {
    const v = this.int(7);
    this.tag(`content-type-variant:${v}`);
    const other = this.pick(['application/json', 'application/graphql', 'application/x-www-form-urlencoded', 'text/plain']);
    switch (v) {
      case 0:
        return base.toUpperCase().replace('BOUNDARY=', 'boundary=').replace(/SGBOUNDARY7MA4YWXK/, 'sgBoundary7MA4YWxk');
      case 1:
        return `${base}, ${other}`;
      case 2:
        return `${other}, ${base}`;
      case 3:
        return `${base}; profile="${other}"`;
      case 4:
        return ` ${base} ;charset=utf-8`;
      case 5: // some readers drop all whitespace before matching
        return base.replace('/', this.pick(['/ ', ' /'])).replace(/^(\w+\/\w{2})/, '$1 ');
      default:
        return `${base}x`;
    }
  }

  /** A JSON object for a parameter set, written by hand so keys can repeat and variables can be a string. */
  jsonObject(p: Params): string {
    const members: string[] = [];
    if (p.query !== undefined) {
      const key = this.chance(0.05) ? (this.tag('json:escaped-key'), '"\\u0071uery"') : '"query"';
      const wrap = this.chance(0.04);
      if (wrap) this.tag('json:query-as-list');
      members.push(`${key}:${wrap ? `[${JSON.stringify(p.query)}]` : JSON.stringify(p.query)}`);
    }
    if (p.variables !== undefined) {
      const v = JSON.stringify(p.variables);
      const asString = p.variables !== null && typeof p.variables === 'object' && !Array.isArray(p.variables) && this.chance(0.2);
      if (asString) this.tag('json:variables-as-string');
      members.push(`"variables":${asString ? JSON.stringify(v) : v}`);
    }
    if (p.operationName !== undefined) members.push(`"operationName":${JSON.stringify(p.operationName)}`);
    if (p.extensions !== undefined) members.push(`"extensions":${p.extensions}`);
    if (this.chance(0.04)) {
      // a reader that copies the body with Object.assign gives it this prototype, and inherits its query
      this.tag('json:__proto__');
      members.splice(this.int(members.length + 1), 0, `"__proto__":${JSON.stringify({ query: `mutation { volumeDelete(volumeId: "${this.id('body')}") }` })}`);
    }
    if (this.chance(0.12)) {
      this.tag('json:duplicate-key');
      const which = this.int(2);
      members.splice(this.int(members.length + 1), 0, which === 0 ? `"query":${JSON.stringify(this.query('body'))}` : `"variables":${JSON.stringify({ volumeId: this.id('body') })}`);
    }
    return `{${members.join(',')}}`;
  }
}

/** A GraphQL document whose meaning depends on the charset: Shift_JIS (and GBK, Big5) read 0x81 and the backslash after it as one character. */
function sjisDocument(): Buffer {
  // UTF-8 reading: one query (the mutation sits inside the string). Shift_JIS reading: the string ends
  // early, mutation M follows, the rest is a comment.
  return Buffer.concat([
    Buffer.from('query R { project(id: "'),
    Buffer.from([0x81]),
    Buffer.from('\\") { id } } mutation M($volumeId: String!) { volumeDelete(volumeId: $volumeId) } #") { id } }\n'),
  ]);
}

function formBody(b: Builder, p: Params): string {
  const pairs: string[] = [];
  if (p.query !== undefined) pairs.push(`query=${encodeURIComponent(p.query)}`);
  if (p.variables !== undefined) pairs.push(`variables=${encodeURIComponent(typeof p.variables === 'string' ? p.variables : JSON.stringify(p.variables))}`);
  if (p.operationName !== undefined) pairs.push(`operationName=${p.operationName ?? ''}`);
  if (b.chance(0.1)) {
    b.tag('form:duplicate');
    pairs.push(`query=${encodeURIComponent(b.query('body'))}`);
  }
  return pairs.join('&');
}

/** Content-Disposition of a part, now and then in a spelling multipart parsers disagree on. */
function disposition(b: Builder, name: string): string {
  if (!b.chance(0.1)) return `Content-Disposition: form-data; name="${name}"`;
  const v = b.int(6);
  b.tag(`multipart:disposition-${v}`);
  switch (v) {
    case 0:
      return `content-disposition: form-data; name=${name}`;
    case 1:
      return `Content-Disposition: form-data; name="${name}"; name="x${name}"`;
    case 2:
      return `Content-Disposition: form-data; name="x${name}"; name="${name}"`;
    case 3:
      return `Content-Disposition: form-data; name*=utf-8''${name}`;
    case 4:
      return `Content-Disposition: form-data; NAME="${name}"`;
    default:
      return `Content-Disposition: form-data; name="${name.toUpperCase()}"`;
  }
}

function multipartBody(b: Builder, p: Params, operations: string): Buffer {
  const part = (name: string, value: Buffer | string, extra = ''): Buffer => Buffer.concat([Buffer.from(`--${BOUNDARY}\r\n${disposition(b, name)}${extra}\r\n`), b.chance(0.3) ? Buffer.from(`Content-Type: application/json; charset=${b.pick(CHARSETS)}\r\n`) : Buffer.alloc(0), Buffer.from('\r\n'), typeof value === 'string' ? Buffer.from(value) : value, Buffer.from('\r\n')]);
  const parts: Buffer[] = [];
  if (b.chance(0.2)) {
    // plain form fields, as an HTML form would send them (not the GraphQL multipart spec)
    b.tag('multipart:plain-fields');
    if (p.query !== undefined) parts.push(part('query', p.query));
    if (p.variables !== undefined) parts.push(part('variables', typeof p.variables === 'string' ? p.variables : JSON.stringify(p.variables)));
    if (p.operationName !== undefined) parts.push(part('operationName', p.operationName ?? ''));
  } else {
    b.tag('multipart:spec');
    parts.push(part('operations', operations, b.chance(0.05) ? (b.tag('multipart:operations-as-file'), '; filename="operations.json"') : ''));
    parts.push(part('map', b.chance(0.7) ? '{"0":["variables.file"]}' : '{}'));
    parts.push(part('0', 'file contents', '; filename="a.txt"'));
    if (b.chance(0.1)) {
      b.tag('multipart:second-operations');
      parts.push(part('operations', b.jsonObject(b.params('part', 0.9))));
    }
  }
  parts.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(parts);
}

/** One generated request. */
export function generate(g: fc.GeneratorValue): Generated {
  const b = new Builder(g);
  const method = b.chance(0.03) ? b.pick(['DELETE', 'PATCH', 'OPTIONS'] as const) : b.pick(['POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'GET', 'GET', 'GET', 'HEAD', 'PUT'] as const);
  b.tag(`method:${method}`);
  const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH' || b.chance(0.06);
  // parameters in the URL of a POST (as well as in its body) are one of the classes under test, not every request
  const urlParams = method === 'GET' || method === 'HEAD' ? b.params('url', 0.9) : b.chance(0.25) ? b.params('url', 0.4) : {};
  const target = b.target(b.urlPairs(urlParams));
  const headers: [string, string][] = [];
  let body: Buffer | null = null;
  let baseType: string | null = null;
  if (hasBody) {
    if (method !== 'POST') b.tag(`body-on:${method}`);
    const p = b.params('body', 0.85);
    const kind = b.pick(['json', 'json', 'json', 'batch', 'graphql', 'form', 'multipart', 'text', 'none', 'sjis'] as const);
    b.tag(`body:${kind}`);
    let text: string | Buffer;
    switch (kind) {
      case 'json':
        text = b.jsonObject(p);
        baseType = b.pick(['application/json', 'application/json', 'application/graphql-response+json', 'text/plain', '']);
        break;
      case 'batch':
        text = `[${b.jsonObject(p)},${b.jsonObject(b.params('body', 0.85))}]`;
        baseType = 'application/json';
        break;
      case 'graphql':
        text = p.query ?? b.query('body');
        baseType = 'application/graphql';
        break;
      case 'form':
        text = formBody(b, p);
        baseType = 'application/x-www-form-urlencoded';
        break;
      case 'multipart':
        text = multipartBody(b, p, b.jsonObject(p));
        baseType = `multipart/form-data; boundary=${b.chance(0.1) ? (b.tag('multipart:quoted-boundary'), `"${BOUNDARY}"`) : BOUNDARY}`;
        if (b.chance(0.04)) {
          b.tag('multipart:lf-only');
          text = Buffer.from(text.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
        }
        break;
      case 'text':
        text = b.jsonObject(p);
        baseType = 'text/plain';
        break;
      case 'sjis': {
        const doc = sjisDocument();
        const vars = JSON.stringify({ volumeId: b.id('body') });
        const as = b.pick(['graphql', 'form', 'json'] as const);
        b.tag(`sjis-in:${as}`);
        if (as === 'graphql') {
          text = doc;
          baseType = 'application/graphql';
        } else if (as === 'form') {
          text = Buffer.concat([Buffer.from('query='), Buffer.from(doc.toString('latin1').replace(/[^A-Za-z0-9\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`), 'latin1'), Buffer.from(`&operationName=M&variables=${encodeURIComponent(vars)}`)]);
          baseType = 'application/x-www-form-urlencoded';
        } else {
          // the 0x81 sits right before a JSON escape: Shift_JIS readers end the string there
          // (only the Shift_JIS reading is valid JSON, and in it the mutation is the last "query")
          text = Buffer.concat([Buffer.from('{"query":"{ me { id } }","z":"'), Buffer.from([0x81]), Buffer.from(`\\","query":"mutation M { volumeDelete(volumeId: \\"${b.id('body')}\\") }","x":""}`)]);
          baseType = 'application/json';
        }
        break;
      }
      default:
        text = '';
    }
    body = typeof text === 'string' ? Buffer.from(text) : text;
    if (b.chance(0.06)) {
      // TextDecoder and iconv-lite drop a leading BOM, JSON.parse and URLSearchParams do not
      b.tag('body:utf-8-bom');
      body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]);
    }
    if (b.chance(0.04)) {
      b.tag('body:high-bytes');
      body = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([0xe9, 0xff]), body.subarray(body.length - 1)]);
    }
  } else if (b.chance(0.2)) baseType = b.pick(['application/json', 'application/graphql', 'text/plain']);

  if (baseType !== null && baseType !== '') {
    let ct = b.chance(0.12) ? b.contentTypeVariant(baseType) : baseType;
    if (b.chance(0.3)) {
      const cs = b.pick(CHARSETS);
      b.tag(`charset:${cs}`);
      ct += `; charset=${cs}`;
      if (cs === 'utf-16le' && body !== null && b.chance(0.7)) {
        b.tag('body:utf-16le-bytes');
        body = Buffer.from(body.toString('latin1'), 'utf16le');
      }
    }
    headers.push(['Content-Type', ct]);
    if (b.chance(0.02)) {
      b.tag('header:duplicate-content-type');
      headers.push(['Content-Type', b.pick(['application/json', 'application/graphql', 'text/plain'])]);
    }
  }
  // Apollo Server's CSRF prevention lets only requests with such a header (or a non-simple type) through
  if (b.chance(0.6)) headers.push(['Apollo-Require-Preflight', 'true']);
  // (not text/event-stream: Yoga answers it with a stream that stays open)
  if (b.chance(0.1)) headers.push(['Accept', b.pick(['application/json', 'application/graphql-response+json', '*/*'])]);
  if (b.chance(0.02)) {
    b.tag('header:method-override');
    headers.push([b.pick(['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override']), b.pick(['GET', 'POST'])]);
  }
  let chunked = false;
  if (body !== null) {
    if (b.chance(0.08)) {
      const coding = b.pick(['gzip', 'gzip', 'x-gzip', 'GZIP', 'gzip, identity', 'identity, gzip', 'deflate', 'br'] as const);
      b.tag(`content-encoding:${coding}`);
      body = coding === 'deflate' ? deflateSync(body) : coding === 'br' ? brotliCompressSync(body) : gzipSync(body);
      headers.push(['Content-Encoding', coding]);
    } else if (b.chance(0.02)) {
      // declared but not applied: servers that ignore the header read the plain body
      const coding = b.pick(['identity', 'gzip', 'chunked']);
      b.tag(`content-encoding:declared-${coding}`);
      headers.push(['Content-Encoding', coding]);
    }
    chunked = b.chance(0.12);
    if (chunked) b.tag('transfer:chunked');
  }
  let cuts: number[] | undefined;
  if (chunked && body !== null) {
    // a cut inside a multi-byte character when there is one, else anywhere
    const inside = [...body.entries()].filter(([, byte]) => byte >= 0x80 && byte < 0xc0).map(([i]) => i);
    cuts = [inside.length && b.chance(0.7) ? b.pick(inside) : b.int(body.length)];
    if (inside.length) b.tag('transfer:cut-in-character');
  }
  return { request: { method, target, headers, body, chunked, ...(cuts ? { cuts } : {}) }, tags: b.tags };
}
