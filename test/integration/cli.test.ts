import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

const sg = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [CLI, ...args], { env, timeoutMs: 15_000 });
const fixture = (name: string) => join(ROOT, 'test', 'fixtures', 'policies', name);

describe('scopegate --help and usage errors', () => {
  it("the README's command works: `npx scopegate` runs the built CLI (its bin is executable after a build)", async () => {
    expect(statSync(CLI).mode & 0o111, 'dist/cli.js must be executable for npx').not.toBe(0);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const r = await run('npx', ['--no-install', 'scopegate', '--version'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('--help lists every verb, and every verb has its own --help', async () => {
    const r = await sg(['--help']);
    expect(r.code).toBe(0);
    for (const verb of ['start', 'ca', 'env', 'policy check']) expect(r.stdout).toContain(`  scopegate ${verb} `);
    for (const verb of ['start', 'ca', 'env', 'policy']) {
      const h = await sg([verb, '--help']);
      expect(h.code, verb).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^Usage: scopegate ${verb}`));
    }
  });

  it('start --help names each flag the parser accepts', async () => {
    const h = await sg(['start', '--help']);
    for (const flag of ['--policy', '--listen', '--admin', '--admin-token', '--ca-dir', '--data-dir', '--route', '--upstream-ca', '--drain-timeout', '--log-level']) {
      expect(h.stdout).toContain(flag);
    }
  });

  it('an unknown verb or flag exits 2 with a message', async () => {
    const v = await sg(['frobnicate']);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/unknown verb "frobnicate"/);
    const f = await sg(['start', '--lisen', '127.0.0.1:0']);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/--lisen/);
    const bad = await sg(['start', '--listen', 'nowhere']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--listen "nowhere" must be HOST:PORT/);
    const route = await sg(['start', '--route', 'x.test']);
    expect(route.code).toBe(2);
    expect(route.stderr).toMatch(/--route "x.test" must be HOST=ADDR:PORT/);
  });

  it('start with an unreadable or invalid policy exits 2 naming the file, line and field', async () => {
    const missing = await sg(['start', '--policy', '/nonexistent/p.yaml', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read policy \/nonexistent\/p.yaml: ENOENT/);
    const invalid = await sg(['start', '--policy', fixture('bad-enum.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/bad-enum.yaml:3:12: egress.default: "maybe" is not one of allow, deny/);
  });
});

describe('scopegate policy check', () => {
  const cases: [string, RegExp][] = [
    ['misspelt-key.yaml', /misspelt-key.yaml:2:1: egres: unknown key "egres"; did you mean "egress"\?/],
    ['bad-enum.yaml', /bad-enum.yaml:3:12: egress.default: "maybe" is not one of allow, deny/],
    ['empty.yaml', /empty.yaml:1:1: the file is empty/],
    ['wrong-type.yaml', /wrong-type.yaml:2:9: egress: expected a mapping/],
    ['duplicate-key.yaml', /duplicate-key.yaml:4:3: duplicate key/],
    ['bad-host.yaml', /bad-host.yaml:3:23: egress.allow\[1\]: "bad host!" is not a host name/],
    ['bad-address.yaml', /bad-address.yaml:5:7: egress.allow_without_sni\[1\]: "10.0.0.0\/33": the prefix length must be a whole number from 0 to 32\n.*bad-address.yaml:6:7: egress.allow_without_sni\[2\]: "not-an-ip" is not an IP address/],
    ['unknown-provider.yaml', /unknown-provider.yaml:3:3: providers.railwy: "railwy" is not a valid name \(known providers: railway, neon\)/],
    ['bad-yaml.yaml', /bad-yaml.yaml:\d+:\d+: YAML syntax error/],
    ['missing-version.yaml', /missing-version.yaml:1:1: version: "version" is required/],
    // a misspelt set name must not be read as an environment name (that rule would never match production)
    ['set-name-typo.yaml', /set-name-typo.yaml:10:40: rules\[0\].match.scope.environments.any_in: "protected-envs" is not a declared set; did you mean "protected-environments"\?.*list them: \[protected-envs\]/],
    ['set-name-in-list.yaml', /set-name-in-list.yaml:8:41: rules\[0\].match.scope.environments.any_in\[0\]: "protected-environments" is a set's name, but a list holds environment names/],
  ];
  for (const [file, expected] of cases) {
    it(`rejects ${file} with exit 2`, async () => {
      const r = await sg(['policy', 'check', fixture(file)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(expected);
    });
  }

  it('accepts the shipped default policy and a valid strict one', async () => {
    const d = await sg(['policy', 'check', join(ROOT, 'policies', 'default.yaml')]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/valid .*guards backboard.railway.com, backboard.railway.app/);
    const s = await sg(['policy', 'check', fixture('valid-strict.yaml')]);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/egress default deny/);
  });
});

describe('scopegate ca', () => {
  it('init makes a CA with a private key file, refuses to replace it, and show describes it without the key', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-ca-')), 'certs');
    const init = await sg(['ca', 'init', '--ca-dir', dir]);
    expect(init.code).toBe(0);
    expect(statSync(join(dir, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o077).toBe(0);
    const again = await sg(['ca', 'init', '--ca-dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a CA already exists/);
    const show = await sg(['ca', 'show', '--ca-dir', dir, '--json']);
    expect(show.code).toBe(0);
    const info = JSON.parse(show.stdout);
    expect(info.subject).toMatch(/scopegate interception CA/);
    expect(info.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const key = readFileSync(join(dir, 'ca-key.pem'), 'utf8');
    const keyBody = key.split('\n')[1]!;
    expect(show.stdout.includes(keyBody)).toBe(false);
    const path = await sg(['ca', 'path', '--ca-dir', dir]);
    expect(path.stdout.trim()).toBe(join(dir, 'ca.pem'));
    // the bundle holds the CA first, then the system roots
    const bundle = readFileSync(join(dir, 'bundle.pem'), 'utf8');
    expect(bundle.indexOf(readFileSync(join(dir, 'ca.pem'), 'utf8').trim())).toBeGreaterThan(0);
    expect(bundle.split('BEGIN CERTIFICATE').length).toBeGreaterThan(10);
  });

  it('show without a CA says how to make one (exit 1); a key without its certificate is refused at start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-ca-'));
    const show = await sg(['ca', 'show', '--ca-dir', dir]);
    expect(show.code).toBe(1);
    expect(show.stderr).toMatch(/there is no CA in .*scopegate ca init/);
    writeFileSync(join(dir, 'ca-key.pem'), 'x', { mode: 0o600 });
    const start = await sg(['start', '--ca-dir', dir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/holds ca-key.pem without ca.pem/);
  });
});

describe('scopegate env', () => {
  it('prints every variable an agent needs, in each shell syntax', async () => {
    const sh = await sg(['env', '--listen', '127.0.0.1:9999', '--ca-dir', '/srv/ca']);
    expect(sh.code).toBe(0);
    for (const v of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'AWS_CA_BUNDLE']) {
      expect(sh.stdout).toMatch(new RegExp(`^export ${v}='`, 'm'));
    }
    expect(sh.stdout).toContain("export HTTPS_PROXY='http://127.0.0.1:9999'");
    expect(sh.stdout).toContain("export NODE_EXTRA_CA_CERTS='/srv/ca/ca.pem'");
    expect(sh.stdout).toContain("export SSL_CERT_FILE='/srv/ca/bundle.pem'");
    expect(sh.stdout).toMatch(/^export NODE_OPTIONS="\$\{NODE_OPTIONS:\+\$NODE_OPTIONS \}--import \/.*\/dist\/preload.js"$/m);
    const fish = await sg(['env', '--shell', 'fish']);
    expect(fish.stdout).toMatch(/^set -gx HTTPS_PROXY 'http:\/\/127.0.0.1:8080'$/m);
    const ps = await sg(['env', '--shell', 'powershell']);
    expect(ps.stdout).toMatch(/^\$env:HTTPS_PROXY = 'http:\/\/127.0.0.1:8080'$/m);
    const bad = await sg(['env', '--shell', 'tcsh']);
    expect(bad.code).toBe(2);
  });
});

describe('scopegate ca install / uninstall (the Debian system store, in a scratch root)', () => {
  it('adds the CA to the system bundle and removes exactly it again', async () => {
    const { mkdirSync, copyFileSync } = await import('node:fs');
    const { makeTestPki } = await import('../helpers/pki.js');
    const root = mkdtempSync(join(tmpdir(), 'sg-root-'));
    for (const d of ['etc/ssl/certs', 'usr/share/ca-certificates', 'etc/ca-certificates/update.d', 'usr/local/share/ca-certificates']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'etc/ca-certificates.conf'), '# scratch\n');
    // another CA already in the store, as on any real system
    const other = makeTestPki('other', ['x.test']);
    copyFileSync(other.caPath, join(root, 'usr/local/share/ca-certificates/other.crt'));
    const caDir = join(root, 'sgca');
    expect((await sg(['ca', 'init', '--ca-dir', caDir])).code).toBe(0);
    const ours = readFileSync(join(caDir, 'ca.pem'), 'utf8').trim();
    const install = await sg(['ca', 'install', '--ca-dir', caDir, '--root', root]);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(readFileSync(join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8')).toContain(ours);
    const uninstall = await sg(['ca', 'uninstall', '--ca-dir', caDir, '--root', root]);
    expect(uninstall.code).toBe(0);
    const bundle = readFileSync(join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
    expect(bundle).not.toContain(ours);
    expect(bundle).toContain(other.caPem.trim());
    expect((await sg(['ca', 'uninstall', '--ca-dir', caDir, '--root', root])).stdout).toMatch(/nothing to do/);
  });

  it('env also says how Java and the system store get the CA', async () => {
    const r = await sg(['env', '--ca-dir', '/srv/ca']);
    expect(r.stdout).toMatch(/^# Java keeps its own store: keytool -importcert .* -file \/srv\/ca\/ca.pem$/m);
  });
});
