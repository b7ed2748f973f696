import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { extractGraphQL } from '../../src/graphql/request.js';
import type { HttpRequestView } from '../../src/inspect/request-view.js';
import { analyseDocument } from '../../src/graphql/document.js';
import { inspectRequest } from '../../src/inspect/inspect-request.js';
import { InspectionCache } from '../../src/inspect/inspection-cache.js';
import { PersistedQueries } from '../../src/graphql/persisted-queries.js';
import { decodeContentEncoding, DEFAULT_BODY_LIMITS } from '../../src/inspect/body.js';
import { createRailwayAdapter } from '../../src/providers/railway/index.js';
import { gzipSync, brotliCompressSync, deflateSync } from 'node:zlib';

const view = (over: Partial<HttpRequestView>): HttpRequestView => ({ method: 'POST', url: '/graphql/v2', contentType: 'application/json', body: Buffer.alloc(0), ...over });
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('extractGraphQL: every transport form', () => {
  it('POST JSON object and batch array', async () => {
    const one = await extractGraphQL(view({ body: json({ query: '{ me { id } }' }) }));
    expect(one).toMatchObject({ kind: 'graphql', payloads: [{ query: '{ me { id } }' }] });
    const batch = await extractGraphQL(view({ body: json([{ query: 'a' }, { query: 'b', variables: { x: 1 } }]) }));
    expect(batch.kind === 'graphql' && batch.payloads.map((p) => p.query)).toEqual(['a', 'b']);
  });
  it('JSON duplicate keys: the last one wins, as the server reads it', async () => {
    const r = await extractGraphQL(view({ body: Buffer.from('{"query":"query { me { id } }","query":"mutation { volumeDelete(volumeId: \\"v\\") }"}') }));
    expect(r.kind === 'graphql' && r.payloads[0]!.query).toBe('mutation { volumeDelete(volumeId: "v") }');
  });
  it('JSON \\u escapes are decoded before judging', async () => {
    const r = await extractGraphQL(view({ body: Buffer.from('{"query":"mutation { volume\\u0044elete(volumeId: \\"v\\") }"}') }));
    expect(r.kind === 'graphql' && r.payloads[0]!.query).toContain('volumeDelete');
  });
  it('__proto__ keys are plain data', async () => {
    const r = await extractGraphQL(view({ body: Buffer.from('{"__proto__":{"query":"x"},"query":"{ me { id } }"}') }));
    expect(r.kind === 'graphql' && r.payloads[0]!.query).toBe('{ me { id } }');
    expect(({} as Record<string, unknown>)['query']).toBeUndefined();
  });
  it('GET query string, application/graphql, form-encoded, text/plain and untyped JSON', async () => {
    const q = 'mutation { volumeDelete(volumeId: "v") }';
    const get = await extractGraphQL(view({ method: 'GET', url: `/graphql/v2?query=${encodeURIComponent(q)}&variables=${encodeURIComponent('{"a":1}')}`, body: Buffer.alloc(0) }));
    expect(get).toMatchObject({ kind: 'graphql', payloads: [{ query: q, variables: { a: 1 } }] });
    expect(await extractGraphQL(view({ contentType: 'application/graphql', body: Buffer.from(q) }))).toMatchObject({ payloads: [{ query: q }] });
    expect(await extractGraphQL(view({ contentType: 'application/x-www-form-urlencoded', body: Buffer.from(`query=${encodeURIComponent(q)}`) }))).toMatchObject({ payloads: [{ query: q }] });
    expect(await extractGraphQL(view({ contentType: 'text/plain', body: json({ query: q }) }))).toMatchObject({ payloads: [{ query: q }] });
    expect(await extractGraphQL(view({ contentType: undefined, body: json({ query: q }) }))).toMatchObject({ payloads: [{ query: q }] });
    expect(await extractGraphQL(view({ contentType: 'application/json; charset=utf-8', body: json({ query: q }) }))).toMatchObject({ payloads: [{ query: q }] });
  });
  it('multipart (GraphQL multipart request spec)', async () => {
    const boundary = 'xyz';
    const ops = JSON.stringify({ query: 'mutation($f: Upload!) { volumeDelete(volumeId: "v") }', variables: { f: null } });
    const body = [
      `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${ops}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n`,
      `--${boundary}--\r\n`,
    ].join('');
    const r = await extractGraphQL(view({ contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.from(body) }));
    expect(r).toMatchObject({ kind: 'graphql', payloads: [{ query: expect.stringContaining('volumeDelete') }] });
    const evilMap = body.replace('variables.f', 'query');
    expect((await extractGraphQL(view({ contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.from(evilMap) }))).kind).toBe('unjudgeable');
  });
  it('refuses what cannot be read instead of guessing', async () => {
    const cases: Partial<HttpRequestView>[] = [
      { body: Buffer.from('{"query": "x",}') },
      { body: Buffer.from('not json') },
      { body: json({ query: 5 }) },
      { body: json({ variables: {} }) },
      { body: json([]) },
      { body: json({ query: 'x', variables: [1] }) },
      { url: '/graphql/v2?query=x', body: json({ query: 'y' }) },
      { method: 'GET', url: '/graphql/v2?query=a&query=b' },
      { contentType: 'application/xml', body: json({ query: 'x' }) },
      { method: 'PUT', body: json({ query: 'x' }) },
    ];
    for (const c of cases) expect((await extractGraphQL(view(c))).kind, JSON.stringify(c)).toBe('unjudgeable');
  });
  it('a request that is not GraphQL at all is not-graphql (judged as unknown)', async () => {
    expect((await extractGraphQL(view({ method: 'GET', url: '/' }))).kind).toBe('not-graphql');
    expect((await extractGraphQL(view({ contentType: 'application/x-www-form-urlencoded', body: Buffer.from('grant_type=x') }))).kind).toBe('not-graphql');
  });
});

describe('decodeContentEncoding', () => {
  const text = Buffer.from(JSON.stringify({ query: 'mutation { volumeDelete(volumeId: "v") }' }));
  it('undoes gzip, deflate, br and stacked codings in reverse order', () => {
    expect(decodeContentEncoding(gzipSync(text), 'gzip', DEFAULT_BODY_LIMITS)).toEqual(text);
    expect(decodeContentEncoding(deflateSync(text), 'deflate', DEFAULT_BODY_LIMITS)).toEqual(text);
    expect(decodeContentEncoding(brotliCompressSync(text), 'br', DEFAULT_BODY_LIMITS)).toEqual(text);
    expect(decodeContentEncoding(brotliCompressSync(gzipSync(text)), 'gzip, br', DEFAULT_BODY_LIMITS)).toEqual(text);
  });
  it('refuses unknown codings, corrupt data and decompression bombs', () => {
    expect(decodeContentEncoding(text, 'compress', DEFAULT_BODY_LIMITS)).toMatchObject({ status: 415 });
    expect(decodeContentEncoding(text, 'gzip', DEFAULT_BODY_LIMITS)).toMatchObject({ status: 400 });
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100_000);
    expect(decodeContentEncoding(bomb, 'gzip', DEFAULT_BODY_LIMITS)).toMatchObject({ status: 413 });
  });
});

describe('analyseDocument: what the server executes, however it is spelled', () => {
  const names = (q: string, v?: Record<string, unknown>) => {
    const a = analyseDocument(q, v);
    if (!a.ok) throw new Error(a.reason);
    return a.fields.map((f) => f.field);
  };
  it('resolves aliases to field names', () => {
    expect(names('mutation { safe: volumeDelete(volumeId: "v") }')).toEqual(['volumeDelete']);
  });
  it('expands named and inline fragments, nested', () => {
    expect(names('mutation { ...A } fragment A on Mutation { ... on Mutation { ...B } } fragment B on Mutation { volumeDelete(volumeId: "v") }')).toEqual(['volumeDelete']);
  });
  it('judges every operation, whichever operationName selects', () => {
    expect(names('query Safe { me { id } } mutation Evil { volumeDelete(volumeId: "v") }')).toEqual(['me', 'volumeDelete']);
  });
  it('applies variables and their defaults; an explicit null overrides a default', () => {
    const q = 'mutation($id: String = "vol-7f3a9d") { volumeDelete(volumeId: $id) }';
    const a = analyseDocument(q, undefined);
    expect(a.ok && a.fields[0]!.args).toEqual({ volumeId: 'vol-7f3a9d' });
    const b = analyseDocument(q, { id: 'other' });
    expect(b.ok && b.fields[0]!.args).toEqual({ volumeId: 'other' });
    const c = analyseDocument(q, { id: null });
    expect(c.ok && c.fields[0]!.args).toEqual({ volumeId: null });
  });
  it('walks nested input objects with variables deep inside', () => {
    const a = analyseDocument('mutation($r: Boolean) { variableCollectionUpsert(input: { projectId: "p", environmentId: "e", variables: {}, replace: $r }) }', { r: true });
    expect(a.ok && a.fields[0]!.args).toEqual({ input: { projectId: 'p', environmentId: 'e', variables: {}, replace: true } });
  });
  it('evaluates @skip/@include when it can, keeps the field as conditional when it cannot', () => {
    expect(names('mutation($s: Boolean!) { volumeDelete(volumeId: "v") @skip(if: $s) }', { s: true })).toEqual([]);
    expect(names('mutation($s: Boolean!) { volumeDelete(volumeId: "v") @include(if: $s) }', { s: true })).toEqual(['volumeDelete']);
    const a = analyseDocument('mutation($s: Boolean!) { volumeDelete(volumeId: "v") @include(if: $s) }', {});
    expect(a.ok && a.fields[0]!.conditional).toBe(true);
  });
  it('refuses documents it cannot read', () => {
    for (const bad of ['mutation {', 'fragment A on Mutation { x }', 'mutation { ...A }', 'mutation { ...A } fragment A on Mutation { ...A }', 'type X { a: Int }']) {
      expect(analyseDocument(bad, undefined).ok, bad).toBe(false);
    }
  });
});

describe('Railway classification', () => {
  const classify = async (body: unknown) => {
    const r = await inspectRequest(createRailwayAdapter(new PersistedQueries()), view({ body: json(body) }));
    if (!r.ok) throw new Error(r.reason);
    return r.operations;
  };
  it('knows the incident call, its target and its project-wide reach', async () => {
    const [op] = await classify({ query: 'mutation { volumeDelete(volumeId: "vol-7f3a9d") }' });
    expect(op).toMatchObject({ name: 'volumeDelete', class: 'destructive-irreversible', target: { type: 'volume', id: 'vol-7f3a9d' }, reach: 'project' });
  });
  it('queries are reads; unknown mutations are unknown', async () => {
    expect((await classify({ query: '{ me { id } }' }))[0]!.class).toBe('read');
    expect((await classify({ query: 'mutation { somethingNew(id: "x") }' }))[0]!.class).toBe('unknown');
  });
  it('payloads decide: a patch that deletes, an upsert that replaces', async () => {
    const del = await classify({ query: 'mutation($p: EnvironmentConfig) { environmentPatchCommit(environmentId: "e", patch: $p) }', variables: { p: { volumes: { 'vol-1': { isDeleted: true } } } } });
    expect(del[0]!.class).toBe('destructive-irreversible');
    const harmless = await classify({ query: 'mutation($p: EnvironmentConfig) { environmentPatchCommit(environmentId: "e", patch: $p) }', variables: { p: { services: { s: { variables: { A: { value: '1' } } } } } } });
    expect(harmless[0]!.class).toBe('modify');
    const unset = await classify({ query: 'mutation($p: EnvironmentConfig) { environmentPatchCommit(environmentId: "e", patch: $p) }', variables: { p: { sharedVariables: { A: null } } } });
    expect(unset[0]!.class).toBe('destructive-recoverable');
    const replace = await classify({ query: 'mutation { variableCollectionUpsert(input: { projectId: "p", environmentId: "e", variables: { A: "1" }, replace: true }) }' });
    expect(replace[0]!.class).toBe('destructive-recoverable');
    const noReplace = await classify({ query: 'mutation { variableCollectionUpsert(input: { projectId: "p", environmentId: "e", variables: { A: "1" } }) }' });
    expect(noReplace[0]!.class).toBe('modify');
  });
  it('persisted queries: a hash is accepted only for text scopegate has seen', async () => {
    const pq = new PersistedQueries();
    const q = 'mutation { volumeDelete(volumeId: "v") }';
    const hash = createHash('sha256').update(q).digest('hex');
    const hashOnly = { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } };
    expect((await inspectRequest(createRailwayAdapter(pq), view({ body: json(hashOnly) }))).ok).toBe(false);
    const wrong = await inspectRequest(createRailwayAdapter(pq), view({ body: json({ query: '{ me { id } }', ...hashOnly }) }));
    expect(wrong.ok).toBe(false);
    expect((await inspectRequest(createRailwayAdapter(pq), view({ body: json({ query: q, ...hashOnly }) }))).ok).toBe(true);
    const later = await inspectRequest(createRailwayAdapter(pq), view({ body: json(hashOnly) }));
    expect(later.ok && later.operations[0]!.name).toBe('volumeDelete');
  });
});

describe('InspectionCache: the same bytes, the same operations; other bytes, inspected afresh', () => {
  const del = json({ query: 'mutation { volumeDelete(volumeId: "vol-1") }' });
  const names = (r: Awaited<ReturnType<typeof inspectRequest>>): string[] => (r.ok ? r.operations.map((o) => `${o.name}:${o.class}:${o.target?.id ?? ''}`) : [`not ok: ${r.reason}`]);

  it('a repeat is a hit: the same frozen inspection, equal to parsing afresh', async () => {
    const cache = new InspectionCache();
    const first = await inspectRequest(createRailwayAdapter(new PersistedQueries()), view({ body: del }), cache);
    const again = await inspectRequest(createRailwayAdapter(new PersistedQueries()), view({ body: Buffer.from(del) }), cache);
    expect(again).toBe(first);
    expect(cache.size).toBe(1);
    expect(names(again)).toEqual(names(await inspectRequest(createRailwayAdapter(new PersistedQueries()), view({ body: del }))));
    expect(names(again)).toEqual(['volumeDelete:destructive-irreversible:vol-1']);
    // no stage can change what a later request will be judged on
    expect(() => {
      (again as { operations: { class: string }[] }).operations[0]!.class = 'read';
    }).toThrow(TypeError);
    expect(() => (again as { operations: unknown[] }).operations.push({})).toThrow(TypeError);
    expect(() => {
      (again as { operations: { target: { id: string } }[] }).operations[0]!.target.id = 'other';
    }).toThrow(TypeError);
  });

  it('one byte, the method, the URL, the content type or the provider apart: another entry', async () => {
    const cache = new InspectionCache();
    const base = view({ body: del });
    const other = [
      view({ body: json({ query: 'mutation { volumeDelete(volumeId: "vol-2") }' }) }),
      view({ body: del, url: '/graphql/v2?x=1' }),
      view({ body: del, contentType: 'application/json; charset=utf-8' }),
      view({ body: del, method: 'PUT' }),
    ];
    const keys = new Set([cache.keyFor('railway', base), cache.keyFor('other', base), ...other.map((v) => cache.keyFor('railway', v))]);
    expect(keys.size).toBe(6);
    // bytes that are not UTF-8 but decode to the same replacement characters still differ
    const a = Buffer.from([0x7b, 0xff, 0x7d]);
    const b = Buffer.from([0x7b, 0xfe, 0x7d]);
    expect(a.toString('utf8')).toBe(b.toString('utf8'));
    expect(cache.keyFor('railway', view({ body: a }))).not.toBe(cache.keyFor('railway', view({ body: b })));
    // a read and a mutation in turn, each judged as itself
    const read = view({ body: json({ query: '{ me { id } }' }) });
    for (let i = 0; i < 3; i++) {
      expect(names(await inspectRequest(createRailwayAdapter(new PersistedQueries()), read, cache))).toEqual(['me:read:']);
      expect(names(await inspectRequest(createRailwayAdapter(new PersistedQueries()), base, cache))).toEqual(['volumeDelete:destructive-irreversible:vol-1']);
      expect(names(await inspectRequest(createRailwayAdapter(new PersistedQueries()), other[0]!, cache))).toEqual(['volumeDelete:destructive-irreversible:vol-2']);
    }
  });

  it('keeps nothing that depends on more than the bytes: persisted queries, failures; nor large bodies', async () => {
    const cache = new InspectionCache(256, 4096);
    const pq = new PersistedQueries();
    const q = 'mutation { volumeDelete(volumeId: "v") }';
    const hash = createHash('sha256').update(q).digest('hex');
    const hashOnly = json({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
    expect((await inspectRequest(createRailwayAdapter(pq), view({ body: hashOnly }), cache)).ok).toBe(false);
    expect((await inspectRequest(createRailwayAdapter(pq), view({ body: json({ query: q, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }) }), cache)).ok).toBe(true);
    // the same hash-only bytes now mean the mutation: had the failure been kept, they would still fail
    expect(names(await inspectRequest(createRailwayAdapter(pq), view({ body: hashOnly }), cache))).toEqual(['volumeDelete:destructive-irreversible:v']);
    // and with a store that never saw the text, the same bytes are refused again
    expect((await inspectRequest(createRailwayAdapter(new PersistedQueries()), view({ body: hashOnly }), cache)).ok).toBe(false);
    expect((await inspectRequest(createRailwayAdapter(pq), view({ body: json({ query: 'mutation {' }) }), cache)).ok).toBe(false);
    expect(cache.size).toBe(0);
    const big = json({ query: `{ me { id } } ${'#'.repeat(5000)}` });
    expect((await inspectRequest(createRailwayAdapter(pq), view({ body: big }), cache)).ok).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest', async () => {
    const cache = new InspectionCache(3);
    for (let i = 0; i < 10; i++) await inspectRequest(createRailwayAdapter(new PersistedQueries()), view({ body: json({ query: `mutation { volumeDelete(volumeId: "v${i}") }` }) }), cache);
    expect(cache.size).toBe(3);
    const last = view({ body: json({ query: 'mutation { volumeDelete(volumeId: "v9") }' }) });
    expect(cache.get(cache.keyFor('railway', last)!)).toBeDefined();
    expect(cache.get(cache.keyFor('railway', view({ body: json({ query: 'mutation { volumeDelete(volumeId: "v0") }' }) }))!)).toBeUndefined();
  });
});
