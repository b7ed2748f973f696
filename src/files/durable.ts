import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorCode, errorMessage } from '../errors.js';

/** Write a file so that a crash leaves either the old file or the whole new one, never half of it. */
export function writeFileDurably(path: string, data: string | Buffer, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * A per-install secret kept in a file (mode 0600, its directory 0700): the file's content when
 * `usable` accepts it, else a new one from `make`, written durably first. A file that exists but
 * cannot be read is an error, not a reason to replace it.
 */
export function readOrCreateSecret<T extends string | Buffer>(path: string, read: (raw: Buffer) => T | null, make: () => T): T {
  try {
    const known = read(readFileSync(path));
    if (known !== null) return known;
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw new Error(`cannot read ${path}: ${errorCode(err) ?? errorMessage(err)}`);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fresh = make();
  writeFileDurably(path, fresh, 0o600);
  return fresh;
}
