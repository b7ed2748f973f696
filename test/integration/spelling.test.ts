import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { ProxyAgent, request } from 'undici';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { TestUpstream } from '../helpers/upstream.js';
import { startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { exchange, tunnel } from '../helpers/raw-client.js';

/**
 * The same destructive call, spelled every way a GraphQL server would accept it, must get the
 * same decision — end to end through the real proxy, asserting that the upstream received nothing.
 */
const GUARDED = 'backboard.railway.com';
const VOL = 'vol-7f3a9d';
const EVIL = `mutation { volumeDelete(volumeId: "${VOL}") }`;
const BENIGN = '{ me { id } }';

let pki: TestPki;
let upstream: TestUpstream;
let proxy: ProxyProcess;
let agent: ProxyAgent;

beforeAll(async () => {
  pki = makeTestPki('upstream', [GUARDED, 'backboard.railway.app']);
  upstream = await new TestUpstream(pki).start();
  const policy = join(pki.dir, 'spelling.yaml');
  writeFileSync(
    policy,
    [
      'version: 1',
      'providers:',
      '  railway: {}',
      'rules:',
      '  - name: reads',
      '    match: { class: [read, benign] }',
      '    action: allow',
      '  - name: no-volume-delete',
      '    match: { operation: volumeDelete }',
      '    action: deny',
      '  - name: rest',
      '    match: {}',
      '    action: hold',
      '',
    ].join('\n'),
  );
  proxy = await startProxy({
    args: ['--policy', policy, '--hold-timeout', '0', '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${upstream.port}`, '--route', `backboard.railway.app=127.0.0.1:${upstream.port}`],
  });
  agent = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: proxy.caPem } });
});

afterAll(async () => {
  await agent?.close();
  await proxy?.stop();
  await upstream?.stop();
});

interface Spelling {
  name: string;
  method?: 'GET' | 'POST';
  host?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | (() => Readable);
}

const json = (v: unknown): string => JSON.stringify(v);
const multipart = (): { body: string; type: string } => {
  const b = 'sgboundary';
  const ops = json({ query: 'mutation($f: Upload) { volumeDelete(volumeId: "vol-7f3a9d") }', variables: { f: null } });
  return {
    type: `multipart/form-data; boundary=${b}`,
    body: `--${b}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${ops}\r\n--${b}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}\r\n--${b}\r\nContent-Disposition: form-data; name="0"; filename="x"\r\n\r\nx\r\n--${b}--\r\n`,
  };
};

const SPELLINGS: Spelling[] = [
  { name: 'plain JSON', body: json({ query: EVIL }) },
  { name: 'alias hiding the name', body: json({ query: `mutation { cleanupStaging: volumeDelete(volumeId: "${VOL}") }` }) },
  { name: 'alias named like a harmless field', body: json({ query: `mutation { me: volumeDelete(volumeId: "${VOL}") }` }) },
  { name: 'named fragment', body: json({ query: `mutation { ...F } fragment F on Mutation { volumeDelete(volumeId: "${VOL}") }` }) },
  { name: 'inline fragment', body: json({ query: `mutation { ... on Mutation { volumeDelete(volumeId: "${VOL}") } }` }) },
  { name: 'nested fragments', body: json({ query: `mutation { ...A } fragment A on Mutation { ... { ...B } } fragment B on Mutation { volumeDelete(volumeId: "${VOL}") }` }) },
  { name: 'second operation, operationName picks the harmless one', body: json({ query: `query Safe ${BENIGN} mutation Evil { volumeDelete(volumeId: "${VOL}") }`, operationName: 'Safe' }) },
  { name: 'batch with the harmless call first', body: json([{ query: BENIGN }, { query: EVIL }]) },
  { name: 'variable', body: json({ query: 'mutation($v: String!) { volumeDelete(volumeId: $v) }', variables: { v: VOL } }) },
  { name: 'variable default', body: json({ query: `mutation($v: String = "${VOL}") { volumeDelete(volumeId: $v) }` }) },
  { name: 'variables double-encoded as a string', body: json({ query: 'mutation($v: String!) { volumeDelete(volumeId: $v) }', variables: json({ v: VOL }) }) },
  { name: '@include with a true variable', body: json({ query: `mutation($go: Boolean!) { volumeDelete(volumeId: "${VOL}") @include(if: $go) }`, variables: { go: true } }) },
  { name: 'duplicate JSON key: the last one wins', body: `{"query":${JSON.stringify(BENIGN)},"query":${JSON.stringify(EVIL)}}` },
  { name: 'unicode escape in the field name', body: `{"query":"mutation { volume\\u0044elete(volumeId: \\"${VOL}\\") }"}` },
  { name: 'GET query string', method: 'GET', path: `/graphql/v2?query=${encodeURIComponent(EVIL)}`, body: undefined },
  { name: 'application/graphql', headers: { 'content-type': 'application/graphql' }, body: EVIL },
  { name: 'form-encoded', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `query=${encodeURIComponent(EVIL)}` },
  { name: 'text/plain JSON', headers: { 'content-type': 'text/plain' }, body: json({ query: EVIL }) },
  { name: 'no content type', headers: { 'content-type': '' }, body: json({ query: EVIL }) },
  { name: 'gzip body', headers: { 'content-encoding': 'gzip' }, body: gzipSync(json({ query: EVIL })) },
  { name: 'deflate body', headers: { 'content-encoding': 'deflate' }, body: deflateSync(json({ query: EVIL })) },
  { name: 'br body', headers: { 'content-encoding': 'br' }, body: brotliCompressSync(json({ query: EVIL })) },
  { name: 'stacked gzip then br', headers: { 'content-encoding': 'gzip, br' }, body: brotliCompressSync(gzipSync(json({ query: EVIL }))) },
  { name: 'chunked body', body: () => Readable.from([Buffer.from(json({ query: EVIL }).slice(0, 10)), Buffer.from(json({ query: EVIL }).slice(10))]) },
  { name: 'the dashboard path /graphql/internal', path: '/graphql/internal', body: json({ query: EVIL }) },
  { name: 'the legacy host backboard.railway.app', host: 'backboard.railway.app', body: json({ query: EVIL }) },
  { name: 'Team-Access-Token instead of Authorization', headers: { 'team-access-token': 'x'.repeat(20) }, body: json({ query: EVIL }) },
];

async function send(s: Spelling): Promise<{ status: number; body: Record<string, unknown>; decision: string | undefined }> {
  const mp = s.name === 'multipart' ? multipart() : null;
  const headers: Record<string, string> = { 'content-type': mp?.type ?? 'application/json', ...(s.headers ?? {}) };
  if (headers['content-type'] === '') delete headers['content-type'];
  const body = typeof s.body === 'function' ? s.body() : (mp?.body ?? s.body);
  const res = await request(`https://${s.host ?? GUARDED}${s.path ?? '/graphql/v2'}`, { dispatcher: agent, method: s.method ?? 'POST', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, body: JSON.parse(text) as Record<string, unknown>, decision: res.headers['x-scopegate-decision'] as string | undefined };
}

describe('the incident call, spelled every way a server accepts, is denied the same way', () => {
  for (const s of [...SPELLINGS, { name: 'multipart' } as Spelling]) {
    it(s.name, async () => {
      const before = upstream.seen.length;
      const r = await send(s);
      expect(r.status).toBe(200);
      const err = (r.body['errors'] as { message: string; extensions: Record<string, unknown> }[])[0]!;
      expect(err.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', rule: 'no-volume-delete', operation: 'volumeDelete', target: { type: 'volume', id: VOL } });
      expect(err.message).toMatch(/^scopegate denied volumeDelete on volume vol-7f3a9d/);
      expect(r.decision).toBe(err.extensions['decisionId']);
      expect(upstream.seen.length).toBe(before);
      const line = await proxy.waitForLog((l) => l.decisionId === r.decision);
      expect(line).toMatchObject({ decision: 'deny', rule: 'no-volume-delete', operation: 'volumeDelete' });
    });
  }

  it('CONNECT target spelled in upper case with a trailing dot', async () => {
    const before = upstream.seen.length;
    const t = await tunnel(proxy.proxyPort, 'BACKBOARD.Railway.COM.:443', GUARDED, proxy.caPem);
    const body = json({ query: EVIL });
    const answer = await exchange(t, `POST /graphql/v2 HTTP/1.1\r\nHost: Backboard.Railway.com\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(answer).toContain('"code":"SCOPEGATE_DENIED"');
    expect(upstream.seen.length).toBe(before);
  });

});

describe('a tunnel to another name or an address cannot carry the guarded host past inspection', () => {
  const body = json({ query: EVIL });
  const post = `POST /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
  it('CONNECT to the upstream\'s IP address with SNI backboard.railway.com is intercepted and judged', async () => {
    const before = upstream.seen.length;
    // the client trusts scopegate's CA: the handshake succeeding at all shows scopegate answered it
    const t = await tunnel(proxy.proxyPort, `127.0.0.1:${upstream.port}`, GUARDED, proxy.caPem);
    const answer = await exchange(t, post);
    expect(answer).toContain('"code":"SCOPEGATE_DENIED"');
    expect(upstream.seen.length).toBe(before);
    const line = await proxy.waitForLog((l) => l.msg === 'tunnel' && l.interceptedAs === GUARDED);
    expect(line).toMatchObject({ decision: 'intercept', host: '127.0.0.1' });
  });
  it('a client that expects the real certificate through such a tunnel gets scopegate\'s instead and fails', async () => {
    await expect(tunnel(proxy.proxyPort, `127.0.0.1:${upstream.port}`, GUARDED, pki.caPem)).rejects.toThrow(/certificate|self.signed|issuer/i);
  });
  it('cleartext HTTP for the guarded host inside a tunnel to another host is refused', async () => {
    const { connect: netConnect } = await import('node:net');
    const s = netConnect(proxy.proxyPort, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const before = upstream.seen.length;
    const got = await exchange(s, `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n${post}`);
    expect(got).toMatch(/^HTTP\/1.1 200/);
    expect(got).not.toContain('HTTP/1.1 400'); // the upstream never saw it: the socket was cut, not answered
    expect(upstream.seen.length).toBe(before);
    await proxy.waitForLog((l) => l.msg === 'tunnel' && /cleartext HTTP for guarded host/.test(String(l.error)));
  });
});

describe('GraphQL over WebSocket (graphql-transport-ws) against the fake Railway', () => {
  it('a subscribe message carrying the mutation is answered with SCOPEGATE_DENIED and never reaches the provider; a read passes', async () => {
    const { startFakeRailway, POCKETOS } = await import('../fixtures/fake-railway/index.js');
    const { default: WebSocket } = await import('ws');
    const fake = await startFakeRailway({ cert: pki.cert, key: pki.key });
    const policy = join(pki.dir, 'spelling.yaml');
    const p = await startProxy({ args: ['--policy', policy, '--upstream-ca', pki.caPath, '--route', `${GUARDED}=127.0.0.1:${fake.port}`] });
    try {
      const t = await tunnel(p.proxyPort, `${GUARDED}:443`, GUARDED, p.caPem);
      const ws = new WebSocket(`wss://${GUARDED}/graphql/v2`, 'graphql-transport-ws', {
        createConnection: (() => t) as never,
        headers: { authorization: `Bearer ${POCKETOS.token.account}` },
      });
      const inbox: Record<string, unknown>[] = [];
      const waiters: (() => void)[] = [];
      ws.on('message', (d) => {
        inbox.push(JSON.parse(d.toString()) as Record<string, unknown>);
        waiters.splice(0).forEach((w) => w());
      });
      const next = async (): Promise<Record<string, unknown>> => {
        for (let i = 0; i < 50 && inbox.length === 0; i++) await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
        const m = inbox.shift();
        if (!m) throw new Error('no message');
        return m;
      };
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
      expect(ws.protocol).toBe('graphql-transport-ws');
      ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      expect(await next()).toEqual({ type: 'connection_ack' });
      ws.send(JSON.stringify({ id: 'evil', type: 'subscribe', payload: { query: `mutation { a: volumeDelete(volumeId: "${VOL}") }` } }));
      const refused = await next();
      expect(refused).toMatchObject({ id: 'evil', type: 'error' });
      expect((refused['payload'] as { extensions: Record<string, unknown> }[])[0]!.extensions).toMatchObject({ code: 'SCOPEGATE_DENIED', operation: 'volumeDelete' });
      ws.send(JSON.stringify({ id: 'ok', type: 'subscribe', payload: { query: 'subscription($id: String!) { deployment(id: $id) { id status } }', variables: { id: 'dep-api-stg' } } }));
      expect(await next()).toMatchObject({ id: 'ok', type: 'next' });
      ws.send('not json');
      const closed = await new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
      expect(closed.code).toBe(4400);
      expect(closed.reason).toMatch(/not JSON/);
      expect(fake.received.some((x) => x.rootFields.includes('volumeDelete'))).toBe(false);
      expect(fake.received.some((x) => x.transport === 'ws' && x.rootFields.includes('deployment'))).toBe(true);
      expect(fake.world.volumes.some((v: { id: string }) => v.id === VOL)).toBe(true);
      // decisions made over WebSocket are in the audit trail like HTTP ones: the refused message and the one that could not be judged
      const deniedId = (refused['payload'] as { extensions: Record<string, unknown> }[])[0]!.extensions['decisionId'];
      const res = await request(`${p.adminUrl}/api/audit`, { headers: { authorization: `Bearer ${p.adminToken}` } });
      const audit = ((await res.body.json()) as { events: { decisionId: string; event: string; operation: string; detail: Record<string, unknown> | null }[] }).events;
      expect(audit.find((e) => e.decisionId === deniedId)).toMatchObject({ event: 'deny', operation: 'volumeDelete', detail: { channel: 'websocket' } });
      expect(audit.some((e) => e.event === 'unjudgeable' && e.detail?.['channel'] === 'websocket')).toBe(true);
    } finally {
      await p.stop();
      await fake.stop();
    }
  });
});

describe('what is not the incident call passes as it was sent', () => {
  it('a read is forwarded byte for byte, without Team-Access-Token', async () => {
    const before = upstream.seen.length;
    const body = `{"query":"${BENIGN}","variables":{"a":"é\\u00e9"}}`;
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', 'team-access-token': 'legacy-team-token-123', authorization: 'Bearer abc' }, body });
    expect(res.statusCode).toBe(200);
    const echoed = (await res.body.json()) as { body: string; headers: Record<string, string> };
    expect(echoed.body).toBe(body);
    expect(echoed.headers['team-access-token']).toBeUndefined();
    expect(echoed.headers['authorization']).toBe('Bearer abc');
    expect(upstream.seen.length).toBe(before + 1);
  });

  it('a gzip-encoded read reaches the upstream still encoded, as the client sent it', async () => {
    const raw = gzipSync(json({ query: BENIGN }));
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: raw });
    expect(res.statusCode).toBe(200);
    const echoed = (await res.body.json()) as { headers: Record<string, string> };
    expect(echoed.headers['content-encoding']).toBe('gzip');
    expect(Number(echoed.headers['content-length'])).toBe(raw.length);
  });

  it('a request that is not GraphQL is held as unknown (policy rest), not forwarded', async () => {
    const before = upstream.seen.length;
    const res = await request(`https://${GUARDED}/oauth/token`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    const body = (await res.body.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'SCOPEGATE_HOLD_PENDING', rule: 'rest', class: 'unknown', operation: 'POST /oauth/token' });
    expect(upstream.seen.length).toBe(before);
  });

  it('unreadable bodies are refused as unjudgeable, never forwarded', async () => {
    const before = upstream.seen.length;
    for (const [body, type] of [['{"query": ', 'application/json'], ['<q/>', 'application/xml; x=1'], [json({ query: 'mutation {' }), 'application/json']] as const) {
      const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': type }, body });
      const text = await res.body.text();
      if (type.startsWith('application/xml')) {
        expect(text).toContain('SCOPEGATE_HOLD_PENDING'); // readable, just not GraphQL: unknown → hold
      } else {
        expect(text).toContain('SCOPEGATE_UNJUDGEABLE');
      }
    }
    expect(upstream.seen.length).toBe(before);
  });

  it('a body over the limit gets 413 and is not forwarded', async () => {
    const before = upstream.seen.length;
    const res = await request(`https://${GUARDED}/graphql/v2`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(6 * 1024 * 1024, 0x20) }).catch((e: Error) => e);
    if (!(res instanceof Error)) {
      expect(res.statusCode).toBe(413);
      await res.body.dump();
    }
    expect(upstream.seen.length).toBe(before);
  });

  it('an h2c upgrade to a guarded host is refused', async () => {
    const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
    const answer = await exchange(t, `GET /graphql/v2 HTTP/1.1\r\nHost: ${GUARDED}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(answer).toMatch(/upgrade to "h2c" is refused/);
  });
});

describe('spelled so that servers could read it two ways: refused as unjudgeable, nothing forwarded', () => {
  // Each is the incident call (or a read) in a shape where the judged call and the executed call
  // could differ between scopegate and a real GraphQL server (issue 15's classes); sent as raw
  // bytes through a real TLS tunnel, because client libraries normalise most of these away.
  const enc = encodeURIComponent;
  const DEFAULTED = 'mutation($v: String = "vol-harmless") { volumeDelete(volumeId: $v) }';
  const post = (path: string, type: string, body: Buffer | string, extra = ''): Buffer => {
    const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
    return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: ${type}\r\nContent-Length: ${b.length}\r\n${extra}Connection: close\r\n\r\n`), b]);
  };
  const get = (path: string, extra = ''): Buffer => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${GUARDED}\r\n${extra}Connection: close\r\n\r\n`);
  const sjis = Buffer.concat([Buffer.from('{"query":"{ me { id } }","x":"'), Buffer.from([0x95, 0x5c]), Buffer.from(`","query":${JSON.stringify(EVIL)}}`)]);
  const mpOps = json({ query: EVIL });
  const CASES: [string, Buffer][] = [
    ['POST body names one volume, the URL\'s variables another', post(`/graphql/v2?variables=${enc(json({ v: VOL }))}`, 'application/json', json({ query: DEFAULTED }))],
    ['POST with operationName in the URL', post('/graphql/v2?operationName=Evil', 'application/json', json({ query: `query Safe ${BENIGN} mutation Evil { volumeDelete(volumeId: "${VOL}") }`, operationName: 'Safe' }))],
    ['POST with qs-style variables in the URL', post(`/graphql/v2?variables[v]=${VOL}`, 'application/json', json({ query: DEFAULTED }))],
    ['form body with qs-style variables', post('/graphql/v2', 'application/x-www-form-urlencoded', `query=${enc(DEFAULTED)}&variables[v]=${VOL}`)],
    ['GET with a JSON body', Buffer.from(`GET /graphql/v2?query=${enc(BENIGN)} HTTP/1.1\r\nHost: ${GUARDED}\r\nContent-Type: application/json\r\nContent-Length: ${json({ query: EVIL }).length}\r\nConnection: close\r\n\r\n${json({ query: EVIL })}`)],
    ['JSON in shift_jis', post('/graphql/v2', 'application/json; charset=shift_jis', sjis)],
    ['JSON in gbk', post('/graphql/v2', 'application/json; charset=gbk', json({ query: EVIL }))],
    ['application/graphql in big5', post('/graphql/v2', 'application/graphql; charset=big5', EVIL)],
    ['form in euc-jp', post('/graphql/v2', 'application/x-www-form-urlencoded; charset=euc-jp', `query=${enc(EVIL)}`)],
    ['text/plain JSON in utf-16le', post('/graphql/v2', 'text/plain; charset=utf-16le', Buffer.from(json({ query: EVIL }), 'utf16le'))],
    ['JSON that is not valid UTF-8', post('/graphql/v2', 'application/json', sjis)],
    ['us-ascii with a byte above 0x7F', post('/graphql/v2', 'application/json; charset=us-ascii', Buffer.concat([Buffer.from('{"query":"{ me { id } }","x":"'), Buffer.from([0xa2]), Buffer.from(`","y":${JSON.stringify(EVIL)}}`)]))],
    ['charset given twice', post('/graphql/v2', 'application/json; charset=utf-8; charset=shift_jis', json({ query: EVIL }))],
    ['multipart operations part in shift_jis', post('/graphql/v2', 'multipart/form-data; boundary=B', `--B\r\nContent-Disposition: form-data; name="operations"\r\nContent-Type: application/json; charset=shift_jis\r\n\r\n${mpOps}\r\n--B--\r\n`)],
    ['multipart operations part in base64', post('/graphql/v2', 'multipart/form-data; boundary=B', `--B\r\nContent-Disposition: form-data; name="operations"\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(mpOps).toString('base64')}\r\n--B--\r\n`)],
    ['two Content-Type headers', post('/graphql/v2', 'text/plain', json({ query: EVIL }), 'Content-Type: application/json\r\n')],
    ['X-HTTP-Method-Override', post('/graphql/v2', 'application/json', json({ query: BENIGN }), 'X-HTTP-Method-Override: GET\r\n')],
    ['GET whose query string goes on after a fragment', get(`/graphql/v2?query=${enc(BENIGN)}#&query=${enc(EVIL)}`)],
    ['GET with a ";" separator', get(`/graphql/v2?operationName=x;query=${enc(EVIL)}`)],
    ['GET with a second "?"', get(`/graphql/v2?x=1?query=${enc(EVIL)}`)],
    ['GET with an encoded "?" in the path', get(`/graphql/v2%3Fquery=${enc(EVIL)}`)],
    ['GET with a malformed percent-escape', get(`/graphql/v2?query=${enc(EVIL)}&x=%E0%A4`)],
  ];
  for (const [name, bytes] of CASES) {
    it(name, async () => {
      const before = upstream.seen.length;
      const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
      const answer = await exchange(t, bytes);
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      expect(answer).toContain('"code":"SCOPEGATE_UNJUDGEABLE"');
      expect(upstream.seen.length).toBe(before);
    });
  }
  it('the same calls spelled plainly are still read and judged (denied), and a read in UTF-8 passes', async () => {
    for (const bytes of [post('/graphql/v2?trace=1', 'application/json; charset="UTF-8"', json({ query: EVIL })), get(`/graphql/v2?query=${enc(EVIL)}`)]) {
      const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
      expect(await exchange(t, bytes)).toContain('"code":"SCOPEGATE_DENIED"');
    }
    const before = upstream.seen.length;
    const t = await tunnel(proxy.proxyPort, `${GUARDED}:443`, GUARDED, proxy.caPem);
    expect(await exchange(t, post('/graphql/v2', 'application/json; charset=utf-8', json({ query: BENIGN, variables: { a: 'é' } })))).toMatch(/^HTTP\/1.1 200/);
    expect(upstream.seen.length).toBe(before + 1);
  });
});
