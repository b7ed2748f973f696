import { CaError, errorCode, errorMessage, RuntimeError, UsageError } from '../errors.js';
import { caPaths, createCa, describeCa, loadCa } from '../tls/ca.js';
import { writeTrustBundle } from '../tls/bundle.js';
import { parse } from './args.js';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The file name install writes: tied to this CA, so uninstall removes exactly it and nothing else. */
function storeName(fingerprint256: string): string {
  return `scopegate-${fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()}.crt`;
}

function systemStore(action: 'install' | 'uninstall', dir: string, root: string): number {
  let ca;
  try {
    ca = loadCa(dir);
  } catch (err) {
    if (err instanceof CaError) throw new RuntimeError(err.message);
    throw err;
  }
  const local = join(root, 'usr/local/share/ca-certificates');
  const file = join(local, storeName(ca.x509.fingerprint256));
  const update = (fresh: boolean): void => {
    const args = [
      ...(fresh ? ['--fresh'] : []),
      '--localcertsdir', local,
      '--certsdir', join(root, 'usr/share/ca-certificates'),
      '--etccertsdir', join(root, 'etc/ssl/certs'),
      '--certsconf', join(root, 'etc/ca-certificates.conf'),
      '--hooksdir', join(root, 'etc/ca-certificates/update.d'),
    ];
    try {
      execFileSync('update-ca-certificates', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { code?: string; stderr?: Buffer };
      if (e.code === 'ENOENT') throw new RuntimeError('update-ca-certificates is not installed: this works on Debian and Ubuntu (apt-get install ca-certificates); elsewhere add certs/ca.pem to the system store by hand');
      throw new RuntimeError(`update-ca-certificates failed: ${e.stderr?.toString().trim() || errorMessage(err)}; run as root`);
    }
  };
  try {
    if (action === 'install') {
      mkdirSync(local, { recursive: true });
      copyFileSync(ca.certPath, file);
      update(false);
      process.stdout.write(`installed ${ca.certPath} as ${file} in the system trust store; undo with: scopegate ca uninstall${dir !== 'certs' ? ` --ca-dir ${dir}` : ''}\n`);
    } else {
      if (!existsSync(file)) {
        process.stdout.write(`this CA is not in the system trust store (${file} does not exist); nothing to do\n`);
        return 0;
      }
      unlinkSync(file);
      update(true);
      process.stdout.write(`removed ${file} from the system trust store\n`);
    }
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    const code = errorCode(err);
    throw new RuntimeError(`cannot ${action} the CA in ${local}: ${code ?? errorMessage(err)}${code === 'EACCES' ? '; run as root' : ''}`);
  }
  return 0;
}

export const CA_HELP = `Usage: scopegate ca init|show|path|install|uninstall [--ca-dir DIR] [--json]

  init       make the interception CA in DIR (refuses to replace an existing one)
  show       describe the CA: subject, SHA-256 fingerprint, validity, file paths (never the key)
  path       print the CA certificate's path, for scripts: NODE_EXTRA_CA_CERTS=$(scopegate ca path)
  install    add the CA to the Debian/Ubuntu system trust store (as root): copies ca.pem to
             /usr/local/share/ca-certificates/ and runs update-ca-certificates
  uninstall  remove exactly what install added, and run update-ca-certificates --fresh

Options:
  --ca-dir DIR   where the CA lives (default certs/)
  --root DIR     install/uninstall under DIR instead of / (a chroot or image being built)
  --json         show: print JSON
  -h, --help     this text

Java keeps its own store: keytool -importcert -noprompt -alias scopegate -cacerts -storepass changeit -file "$(scopegate ca path)"`;

export function runCa(argv: string[]): number {
  const { values, positionals } = parse('ca', argv, { 'ca-dir': { type: 'string' }, json: { type: 'boolean' }, root: { type: 'string' } }, true);
  if (values['help']) {
    process.stdout.write(`${CA_HELP}\n`);
    return 0;
  }
  const dir = (values['ca-dir'] as string | undefined) ?? 'certs';
  const action = positionals[0];
  if (positionals.length !== 1 || !['init', 'show', 'path', 'install', 'uninstall'].includes(action ?? '')) {
    throw new UsageError(`scopegate ca: say init, show, path, install or uninstall\n\n${CA_HELP}`);
  }
  if (action === 'install' || action === 'uninstall') return systemStore(action, dir, (values['root'] as string | undefined) ?? '/');
  try {
    if (action === 'path') {
      process.stdout.write(`${caPaths(dir).certPath}\n`);
      return 0;
    }
    const ca = action === 'init' ? createCa(dir) : loadCa(dir);
    const bundle = writeTrustBundle(ca);
    const info = { ...describeCa(ca), bundle };
    if (values['json']) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    else {
      if (action === 'init') process.stdout.write(`made a new CA in ${ca.dir}\n`);
      for (const [k, v] of Object.entries(info)) process.stdout.write(`${k.padEnd(12)} ${v}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof CaError) throw new RuntimeError(err.message);
    throw err;
  }
}
