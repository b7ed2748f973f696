#!/usr/bin/env node
// Builds dist/ from src/ with tsc, saying so first: a silent 20-second pause on the first
// `npx scopegate` looked like a hang, and an interrupted build left a half-written dist/.
// `--if-stale` (what `prepare` runs, so also what npx runs when it links this folder) skips the
// build when dist/ was completed from exactly the current sources: the stamp is written last,
// only after tsc succeeds, so an interrupted build is always redone.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampPath = join(root, 'dist', '.build-stamp');

function sourcesDigest() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else h.update(`${p.slice(root.length)}\0${readFileSync(p).length}\0`).update(readFileSync(p));
    }
  };
  walk(join(root, 'src'));
  for (const f of ['tsconfig.json', 'package.json']) h.update(readFileSync(join(root, f)));
  return h.digest('hex');
}

const digest = sourcesDigest();
if (process.argv.includes('--if-stale') && existsSync(stampPath) && readFileSync(stampPath, 'utf8').trim() === digest && existsSync(join(root, 'dist', 'cli.js'))) {
  process.exit(0);
}
process.stderr.write('scopegate: building dist/ from src/ (TypeScript; about 20 seconds, once)…\n');
const started = Date.now();
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write(`scopegate: the build failed (tsc exit ${tsc.status ?? tsc.signal}); dist/ is incomplete. Fix the error above and run npm run build\n`);
  process.exit(1);
}
chmodSync(join(root, 'dist', 'cli.js'), 0o755);
writeFileSync(stampPath, `${digest}\n`);
process.stderr.write(`scopegate: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
