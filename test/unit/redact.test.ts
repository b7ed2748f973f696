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
