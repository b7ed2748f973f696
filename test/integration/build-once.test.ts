import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/proxy-process.js';

/** Runs scripts/build.mjs in `dir`; SIGINT after `interruptAfterMs` when given (a person pressing Ctrl-C). */
function build(dir: string, args: string[], interruptAfterMs?: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(dir, 'scripts', 'build.mjs'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = interruptAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), interruptAfterMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      clearTimeout(hard);
      resolve({ code, stderr });
    });
  });
}

// issue 18, item 10: the first `npx scopegate` built silently, and an interrupted build left a
// broken install. prepare (which npx runs when it links the folder) now says it builds, skips a
// build that is complete for these sources, and redoes one that was interrupted.
describe('the build that npm ci and npx run', () => {
  it('says it is building, redoes an interrupted build, and skips a complete one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-build-'));
    try {
      for (const p of ['src', 'scripts', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
      const interrupted = await build(dir, ['--if-stale'], 1500);
      expect(interrupted.stderr).toMatch(/scopegate: building dist\/ from src\/ \(TypeScript; about 20 seconds, once\)/);
      expect(existsSync(join(dir, 'dist', '.build-stamp'))).toBe(false);

      const redone = await build(dir, ['--if-stale']);
      expect(redone.code).toBe(0);
      expect(redone.stderr).toMatch(/building dist\/[\s\S]*built dist\/ in [\d.]+ s/);
      expect(existsSync(join(dir, 'dist', 'cli.js'))).toBe(true);
      const stamp = readFileSync(join(dir, 'dist', '.build-stamp'), 'utf8');

      const skipped = await build(dir, ['--if-stale']);
      expect(skipped.code).toBe(0);
      expect(skipped.stderr).toBe('');
      expect(readFileSync(join(dir, 'dist', '.build-stamp'), 'utf8')).toBe(stamp);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
