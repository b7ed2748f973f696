import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { caPaths } from '../tls/ca.js';
import { BUNDLE_FILE } from '../tls/bundle.js';
import { UsageError } from '../errors.js';
import { parse, parseHostPort } from './args.js';
import { PACKAGE_ROOT } from './paths.js';

export const ENV_HELP = `Usage: scopegate env [--shell sh|fish|powershell|dotenv] [--listen HOST:PORT] [--ca-dir DIR]

Print what an agent's environment needs to go through scopegate and trust its CA:
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY            where the proxy is (every client)
  NODE_OPTIONS=--import …/preload.js           makes Node's built-in fetch use the proxy
  NODE_EXTRA_CA_CERTS                          Node: the scopegate CA, added to its roots
  SSL_CERT_FILE, REQUESTS_CA_BUNDLE,           Python urllib/requests, curl, git, AWS CLI:
  CURL_CA_BUNDLE, GIT_SSL_CAINFO, AWS_CA_BUNDLE  the CA plus the system roots (bundle.pem)

  eval "$(npx scopegate env)"                  in a POSIX shell

Options:
  --shell KIND      sh (default), fish, powershell or dotenv
  --listen HOST:PORT  the proxy's address (default 127.0.0.1:8080)
  --ca-dir DIR      the CA's folder (default certs/); run \`scopegate start\` or \`ca init\` first
  -h, --help        this text`;

export function agentEnvironment(listen: { host: string; port: number }, caDir: string): [string, string][] {
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const proxy = `http://${host}:${listen.port}`;
  const { certPath, dir } = caPaths(caDir);
  const bundle = join(dir, BUNDLE_FILE);
  const preload = resolve(PACKAGE_ROOT, 'dist', 'preload.js');
  return [
    ['HTTPS_PROXY', proxy],
    ['HTTP_PROXY', proxy],
    ['https_proxy', proxy],
    ['http_proxy', proxy],
    ['NO_PROXY', 'localhost,127.0.0.1,::1'],
    ['no_proxy', 'localhost,127.0.0.1,::1'],
    ['NODE_OPTIONS', `--import ${preload}`],
    ['NODE_EXTRA_CA_CERTS', certPath],
    ['SSL_CERT_FILE', bundle],
    ['REQUESTS_CA_BUNDLE', bundle],
    ['CURL_CA_BUNDLE', bundle],
    ['GIT_SSL_CAINFO', bundle],
    ['AWS_CA_BUNDLE', bundle],
  ];
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const dq = (s: string): string => s.replace(/[\\"$`]/g, (c) => `\\${c}`);

/** NODE_OPTIONS set to what it was, with the preload flag added, in each shell's syntax. */
function appendNodeOptions(shell: string, flag: string): string {
  switch (shell) {
    case 'fish':
      return `set -gx NODE_OPTIONS (string trim -- "$NODE_OPTIONS ${flag.replace(/["$\\]/g, (c) => `\\${c}`)}")`;
    case 'powershell':
      return `$env:NODE_OPTIONS = ("$env:NODE_OPTIONS " + '${flag.replace(/'/g, "''")}').Trim()`;
    case 'dotenv':
      // a .env file cannot refer to what is already set
      return `NODE_OPTIONS=${flag}\n# NODE_OPTIONS: if your environment already sets it, add the flag above to what it has`;
    default:
      return `export NODE_OPTIONS="\${NODE_OPTIONS:+\$NODE_OPTIONS }${dq(flag)}"`;
  }
}

export function runEnv(argv: string[]): number {
  const { values } = parse('env', argv, { shell: { type: 'string' }, listen: { type: 'string' }, 'ca-dir': { type: 'string' } });
  if (values['help']) {
    process.stdout.write(`${ENV_HELP}\n`);
    return 0;
  }
  const shell = (values['shell'] as string | undefined) ?? 'sh';
  const listen = parseHostPort('--listen', (values['listen'] as string | undefined) ?? '127.0.0.1:8080');
  const vars = agentEnvironment(listen, (values['ca-dir'] as string | undefined) ?? 'certs');
  const line = {
    sh: ([k, v]: [string, string]) => `export ${k}=${sq(v)}`,
    fish: ([k, v]: [string, string]) => `set -gx ${k} ${sq(v)}`,
    powershell: ([k, v]: [string, string]) => `$env:${k} = '${v.replace(/'/g, "''")}'`,
    dotenv: ([k, v]: [string, string]) => `${k}=${v}`,
  }[shell];
  if (!line) throw new UsageError(`--shell "${shell}" must be sh, fish, powershell or dotenv`);
  const certPath = vars.find(([k]) => k === 'NODE_EXTRA_CA_CERTS')![1];
  const bundlePath = vars.find(([k]) => k === 'SSL_CERT_FILE')![1];
  const missing = [certPath, bundlePath].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    // stderr: the output above is meant for eval, and still right once the CA exists
    process.stderr.write(`scopegate env: ${missing.join(' and ')} ${missing.length === 1 ? 'does' : 'do'} not exist yet; clients will not trust scopegate until it does: run \`scopegate start\` (or \`scopegate ca init --ca-dir ${values['ca-dir'] ?? 'certs'}\`) first\n`);
  }
  const notes = [
    '# Go and OpenSSL-based tools read SSL_CERT_FILE above.',
    `# Java keeps its own store: keytool -importcert -noprompt -alias scopegate -cacerts -storepass changeit -file ${certPath}`,
    '# The system store (Debian/Ubuntu, as root): scopegate ca install   (undo: scopegate ca uninstall)',
  ];
  // NODE_OPTIONS may already carry flags of the user's: the preload is added to them, not put in their place
  const out = vars.map((kv) => (kv[0] === 'NODE_OPTIONS' ? appendNodeOptions(shell, kv[1]) : line(kv)));
  process.stdout.write(`${out.join('\n')}\n${notes.join('\n')}\n`);
  return 0;
}
