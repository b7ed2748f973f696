/**
 * The package as a user gets it: `npm pack` of this checkout, installed with --omit=dev into an
 * empty folder (its dependencies from the npm registry this machine uses), then run from there.
 * It catches the class of faults where the checkout works and the published package does not: a
 * module imported at run time but declared as a development dependency (the image's pruned
 * node_modules and `npm install scopegate` both lack it), a file the CLI reads at run time left
 * out of the tarball, a bin that does not start.
 *
 * Packs dist/ as built (`npm run build`, which `npm test` runs first): --ignore-scripts keeps pack
 * from rebuilding dist/ under the other test files that are running it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT, startProxy, type ProxyProcess } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

const INSTALL_MS = 10 * 60_000; // better-sqlite3 compiles from source where no prebuilt binary can be fetched

interface Manifest { version: string; bin: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> }
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

/** Every .js file under dir. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.js')).map((f) => join(dir, f));
}

/** The module specifiers a compiled ES module loads: static imports, re-exports, dynamic import('…'). */
function specifiers(code: string): string[] {
  const out = new Set<string>();
  for (const re of [
    /^\s*import\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm,
    /^\s*export\s+(?:\*|\{[^}]*\})(?:\s+as\s+\w+)?\s+from\s+['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]) {
    for (const m of code.matchAll(re)) out.add(m[1]!);
  }
  return [...out];
}

const isBuiltin = (s: string): boolean => s.startsWith('node:') || builtinModules.includes(s.split('/')[0]!);
const packageOf = (s: string): string => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);

describe('the package, installed from its tarball with --omit=dev', () => {
  let work: string;
  let app: string;
  let pkg: string;
  let bin: string;

  beforeAll(async () => {
    expect(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/ is built (npm run build)').toBe(true);
    work = mkdtempSync(join(tmpdir(), 'sg-prod-install-'));
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, timeoutMs: 120_000 });
    expect(pack.code, pack.stderr).toBe(0);
    const tarball = join(work, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'sg-user', private: true }));
    // cwd: the user's folder (npm installs into the nearest package.json: never this checkout's).
    // --ignore-scripts, then the install scripts by hand, below: the only one among the runtime
    // dependencies compiles better-sqlite3 from source here (no prebuilt binary can be fetched),
    // which takes many minutes on a busy machine; the image build (test/container/) runs it for real.
    const install = await run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, timeoutMs: INSTALL_MS });
    expect(install.code, `npm install --omit=dev ${tarball}:\n${install.stderr.slice(-4000)}`).toBe(0);
    const withScripts = readdirSync(join(app, 'node_modules'), { recursive: true }).map(String)
      .filter((f) => f.endsWith('package.json') && f.split('node_modules').length <= 2 && existsSync(join(app, 'node_modules', f)))
      .map((f) => JSON.parse(readFileSync(join(app, 'node_modules', f), 'utf8')) as { name?: string; scripts?: Record<string, string> })
      .filter((p) => p.name && p.scripts && ['preinstall', 'install', 'postinstall'].some((k) => p.scripts![k]))
      .map((p) => p.name!);
    expect([...new Set(withScripts)].filter((n) => n !== 'scopegate'), 'runtime dependencies with install scripts (add a case here)').toEqual(['better-sqlite3']);
    const version = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const ours = join(ROOT, 'node_modules', 'better-sqlite3');
    const theirs = join(app, 'node_modules', 'better-sqlite3');
    if (version(ours) === version(theirs) && existsSync(join(ours, 'build', 'Release', 'better_sqlite3.node'))) {
      // the same version's addon, built for this node by this checkout's install
      cpSync(join(ours, 'build'), join(theirs, 'build'), { recursive: true });
    } else {
      const rebuild = await run('npm', ['rebuild', 'better-sqlite3', '--no-audit', '--no-fund'], { cwd: app, timeoutMs: INSTALL_MS });
      expect(rebuild.code, rebuild.stderr.slice(-4000)).toBe(0);
    }
    pkg = join(app, 'node_modules', 'scopegate');
    bin = join(app, 'node_modules', '.bin', 'scopegate');
  }, INSTALL_MS + 180_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs no development dependency, and every runtime dependency', () => {
    for (const dev of Object.keys(manifest.devDependencies)) {
      if (dev in manifest.dependencies) continue;
      expect(existsSync(join(app, 'node_modules', dev)), `devDependency ${dev} installed`).toBe(false);
    }
    for (const dep of Object.keys(manifest.dependencies)) expect(existsSync(join(app, 'node_modules', dep, 'package.json')), dep).toBe(true);
  });

  it('carries dist/ and the files the CLI reads at run time, and no private key or test suite', () => {
    for (const f of ['dist/cli.js', 'dist/preload.js', 'policies/default.yaml', 'policies/strict.yaml', 'test/fixtures/railway/schema.graphql', 'docker/share-trust.sh']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    const files = readdirSync(pkg, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.test.ts') || f.startsWith('src/') || f.startsWith('certs/'))).toEqual([]);
    for (const f of files.filter((x) => /\.(pem|key)$/.test(x))) expect(readFileSync(join(pkg, f), 'utf8'), f).not.toMatch(/PRIVATE KEY/);
  });

  it('imports only runtime dependencies and built-ins in dist/, declared in dependencies, not devDependencies', () => {
    const bare = new Map<string, string[]>();
    const files = jsFiles(join(pkg, 'dist'));
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      for (const s of specifiers(readFileSync(file, 'utf8'))) {
        if (s.startsWith('.') || s.startsWith('/') || isBuiltin(s)) continue;
        bare.set(s, [...(bare.get(s) ?? []), relative(pkg, file)]);
      }
    }
    // the scan finds what the code is known to import at run time (a scan that finds nothing checks nothing)
    expect([...bare.keys()].map(packageOf)).toEqual(expect.arrayContaining(['ws', 'undici', 'graphql', 'better-sqlite3']));
    for (const [s, where] of bare) {
      expect(Object.keys(manifest.dependencies), `${s} (imported by ${where.join(', ')}) is a runtime dependency`).toContain(packageOf(s));
    }
  });

  it('every import in dist/ resolves from the production install', async () => {
    // resolution as Node does it for each file (its own node_modules lookup, the packages' exports maps);
    // a child process so the resolution starts from the installed files, not this checkout
    const script = `
      const [files, specs] = JSON.parse(process.argv[1]);
      const { pathToFileURL } = await import('node:url');
      const bad = [];
      for (let i = 0; i < files.length; i++) {
        for (const s of specs[i]) {
          try { import.meta.resolve(s, pathToFileURL(files[i]).href); } catch (e) { bad.push(files[i] + ': ' + s + ': ' + e.message); }
        }
      }
      console.log(JSON.stringify({ checked: specs.flat().length, bad }));`;
    const files = jsFiles(join(pkg, 'dist'));
    const specs = files.map((f) => specifiers(readFileSync(f, 'utf8')));
    const r = await run(process.execPath, ['--experimental-import-meta-resolve', '--input-type=module', '-e', script, JSON.stringify([files, specs])], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { checked: number; bad: string[] };
    expect(out.bad).toEqual([]);
    expect(out.checked).toBe(specs.flat().length);
    expect(out.checked).toBeGreaterThan(50);
  });

  it('the bin prints its help', async () => {
    const r = await run(bin, ['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: scopegate/);
    const v = await run(bin, ['--version']);
    expect(v.stdout.trim()).toContain(manifest.version);
  });

  it('`scopegate start` from the install listens and answers /healthz', async () => {
    let sg: ProxyProcess | undefined;
    try {
      sg = await startProxy({ bin });
      const r = await fetch(`${sg.adminUrl}/healthz`);
      expect(r.status).toBe(200);
      // it is the installed copy that runs, not this checkout's
      expect(readFileSync(`/proc/${sg.pid}/cmdline`, 'utf8').split('\0')).toContain(join(app, 'node_modules', '.bin', 'scopegate'));
    } finally {
      await sg?.stop();
    }
  });

  it('`scopegate demo` from the install runs the incident end to end (fake Railway over ws and graphql, token custody, holds)', async () => {
    const r = await run(bin, ['demo', '--no-color'], { timeoutMs: 120_000 });
    expect(r.code, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`).toBe(0);
    expect(r.stdout).toMatch(/vol-7f3a9d still exists/);
  }, 150_000);
});
