import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

/** Every file under `root`, recursively. */
export function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((f) => join(root, f))
    .filter((f) => statSync(f).isFile());
}

/**
 * No secret, as is, base64, base64url or percent-encoded, in any file under `root` nor in any of
 * `outputs` (a process's stdout, stderr, log lines). `root` must hold files: an empty search proves nothing.
 */
export function expectNowhere(root: string, secrets: readonly string[], outputs: readonly string[] = []): void {
  const forms = secrets.flatMap((s) => [s, Buffer.from(s).toString('base64'), Buffer.from(s).toString('base64url'), encodeURIComponent(s)]);
  const all = filesUnder(root);
  expect(all.length).toBeGreaterThan(0);
  const haystacks: [string, Buffer][] = [...all.map((f): [string, Buffer] => [f, readFileSync(f)]), ...outputs.map((o, i): [string, Buffer] => [`output ${i}`, Buffer.from(o)])];
  for (const [where, bytes] of haystacks) {
    for (const form of forms) expect(bytes.includes(Buffer.from(form)), `${where} contains a secret (${form.slice(0, 6)}…)`).toBe(false);
  }
}
