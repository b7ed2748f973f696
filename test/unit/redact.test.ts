import { describe, expect, it } from 'vitest';
import { redactPath, redactText } from '../../src/audit/redact.js';

describe('redactPath', () => {
  it('blanks secret-named query parameters and keeps the rest', () => {
    expect(redactPath('/graphql/v2?token=abc&x=1')).toBe('/graphql/v2?token=[redacted]&x=1');
    expect(redactPath('/a?api_key=k&password=p&Signature=s&page=2')).toBe('/a?api_key=[redacted]&password=[redacted]&Signature=[redacted]&page=2');
  });
  it('blanks token-shaped values wherever they are', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(redactPath(`/x?q=${jwt}`)).toBe('/x?q=[redacted]');
    expect(redactPath(`/files/${jwt}/raw`)).toBe('/files/[redacted]/raw');
    expect(redactText(`Bearer ${jwt}`)).toBe('Bearer [redacted]');
  });
  it('keeps ordinary paths and short ids intact', () => {
    expect(redactPath('/graphql/v2')).toBe('/graphql/v2');
    expect(redactPath('/v1/apps/vol-7f3a9d?kill=true')).toBe('/v1/apps/vol-7f3a9d?kill=true');
  });
});

describe('the logger', () => {
  it('writes one JSON line per call with an ISO time that follows the clock, and censors credential headers', async () => {
    const { createLogger } = await import('../../src/audit/logger.js');
    const { Writable } = await import('node:stream');
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const log = createLogger('info', sink);
    const t0 = Date.now();
    log.info({ n: 1 }, 'a');
    log.info({ n: 2, headers: { authorization: 'Bearer sekrit-value', accept: '*/*' } }, 'b');
    await new Promise((r) => setTimeout(r, 15));
    log.info({ n: 3 }, 'c');
    await new Promise((r) => setImmediate(r));
    const parsed = lines.map((l) => JSON.parse(l) as { n: number; time: string; headers?: Record<string, string> });
    expect(parsed.map((p) => p.n)).toEqual([1, 2, 3]);
    for (const p of parsed) expect(p.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(parsed[0]!.time)).toBeGreaterThanOrEqual(t0);
    expect(Date.parse(parsed[2]!.time) - Date.parse(parsed[0]!.time)).toBeGreaterThanOrEqual(14);
    expect(parsed[1]!.headers).toEqual({ authorization: '[redacted]', accept: '*/*' });
    expect(lines.join('\n')).not.toContain('sekrit');
  });
});
