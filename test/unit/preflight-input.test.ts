import { describe, expect, it } from 'vitest';
import { parseCheck, parseScope } from '../../src/preflight/input.js';
import { CallerLimiter } from '../../src/preflight/limiter.js';
import { identityFromEnv } from '../../src/mcp/client.js';
import { PROVIDERS } from '../../src/providers/registry.js';

/** The pre-flight API's inputs, read strictly (issue 20): what is taken, and what each refusal says to send. */
const check = (v: unknown) => parseCheck(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));

describe('parseCheck', () => {
  it('takes the call as the agent would send it: a JSON body as its JSON, a string body as it is, header names lower-cased, host normalised', () => {
    const r = check({ host: 'BackBoard.Railway.com.', path: '/graphql/v2', method: 'post', headers: { Authorization: 'Bearer x' }, body: { query: '{ me { id } }' } });
    expect(r).toEqual({ ok: true, value: { host: 'backboard.railway.com', port: 443, path: '/graphql/v2', method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: Buffer.from('{"query":"{ me { id } }"}') } });
    const s = check({ host: 'h.example', path: '/', body: 'raw text', headers: { 'Content-Type': 'text/plain' } });
    expect(s.ok && s.value.body.toString()).toBe('raw text');
    expect(s.ok && s.value.headers['content-type']).toBe('text/plain');
  });

  it('a URL in "url" or "host" gives host, port and path; an explicit path wins', () => {
    expect(check({ url: 'https://a.example:8443/v2/x?y=1', body: {} })).toMatchObject({ ok: true, value: { host: 'a.example', port: 8443, path: '/v2/x?y=1' } });
    expect(check({ host: 'https://a.example/v2', path: '/other', body: {} })).toMatchObject({ ok: true, value: { path: '/other' } });
  });

  it.each([
    ['{', /not JSON/],
    ['"a string"', /not an object/],
    [{ path: '/' }, /"host" is missing/],
    [{ host: 'a b', path: '/' }, /"host" is not a host name/],
    [{ host: 'user@a.example', path: '/' }, /"host" is not a host name/],
    [{ host: 'a.example', path: 'graphql' }, /"path" must be the request path/],
    [{ host: 'a.example', path: '/', method: 'PO ST' }, /"method" must be an HTTP method/],
    [{ host: 'a.example', path: '/', headers: ['x'] }, /"headers" must be an object/],
    [{ host: 'a.example', path: '/', headers: { 'bad name': 'x' } }, /not a header name/],
    [{ host: 'a.example', path: '/', headers: { a: ['x'] } }, /string value/],
  ])('%j is refused, saying what to send', (input, message) => {
    const r = check(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(message);
      expect(r.message).toMatch(/send \{"host": /);
    }
  });
});

describe('parseScope', () => {
  it('needs provider, type and id, all strings', () => {
    expect(parseScope(Buffer.from(JSON.stringify({ provider: 'Railway', type: 'volume', id: 'v' })))).toEqual({ ok: true, value: { provider: 'railway', type: 'volume', id: 'v', host: null, headers: {} } });
    for (const bad of [{ type: 'volume', id: 'v' }, { provider: 'railway', id: 'v' }, { provider: 'railway', type: 'volume', id: 5 }]) {
      const r = parseScope(Buffer.from(JSON.stringify(bad)));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/send \{"provider": /);
    }
  });
});

describe('CallerLimiter', () => {
  it('gives each caller at most N slots; a slot released (once, however often release is called) is free again; callers do not share', () => {
    const l = new CallerLimiter(2);
    const a1 = l.take('a');
    const a2 = l.take('a');
    expect(a1 && a2).toBeTruthy();
    expect(l.take('a')).toBeNull();
    expect(l.take('b')).not.toBeNull();
    a1!();
    a1!();
    const a3 = l.take('a');
    expect(a3).not.toBeNull();
    expect(l.take('a')).toBeNull();
    a2!();
    a3!();
    expect(l.size).toBe(1);
  });
});

describe('identityFromEnv (scopegate mcp acts as the agent)', () => {
  it('SCOPEGATE_TOKEN and SCOPEGATE_PROXY_AUTH as given; the provider\'s own variables by the adapter\'s data, the first set one winning', () => {
    expect(identityFromEnv({ SCOPEGATE_TOKEN: ' t ', SCOPEGATE_PROXY_AUTH: 'a:b' }, PROVIDERS.values())).toEqual({ token: 't', proxyAuth: 'a:b', providerHeaders: new Map() });
    expect(identityFromEnv({ RAILWAY_TOKEN: 'p' }, PROVIDERS.values()).providerHeaders.get('railway')).toEqual({ 'project-access-token': 'p' });
    expect(identityFromEnv({ RAILWAY_TOKEN: 'p', RAILWAY_API_TOKEN: 'a' }, PROVIDERS.values()).providerHeaders.get('railway')).toEqual({ authorization: 'Bearer a' });
    expect(identityFromEnv({ RAILWAY_API_TOKEN: '' }, PROVIDERS.values())).toEqual({ token: null, proxyAuth: null, providerHeaders: new Map() });
  });
});
