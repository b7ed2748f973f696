import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOrCreateSecret } from '../../src/files/durable.js';

describe('readOrCreateSecret', () => {
  const read = (raw: Buffer) => (raw.length === 16 ? raw : null);
  const make = () => Buffer.alloc(16, 7);

  it('makes the secret once (0600, in a 0700 directory, no temporary file left), then reads it back', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-secret-')), 'data');
    const path = join(dir, 'k');
    const first = readOrCreateSecret(path, read, make);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual(['k']);
    let made = 0;
    const again = readOrCreateSecret(path, read, () => {
      made++;
      return Buffer.alloc(16, 9);
    });
    expect(made).toBe(0);
    expect(again.equals(first)).toBe(true);
  });

  it('replaces content it cannot use, and refuses a file it cannot read rather than replace it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-secret-'));
    const path = join(dir, 'k');
    writeFileSync(path, 'short');
    expect(readOrCreateSecret(path, read, make).equals(Buffer.alloc(16, 7))).toBe(true);
    expect(readFileSync(path).equals(Buffer.alloc(16, 7))).toBe(true);
    // a directory where the file should be: EISDIR, not ENOENT, so nothing is replaced
    expect(() => readOrCreateSecret(dir, read, make)).toThrow(/cannot read .*EISDIR/);
  });
});
