import { caPaths, CaError, createCa, describeCa, loadCa } from '../tls/ca.js';
import { writeTrustBundle } from '../tls/bundle.js';
import { parse, RuntimeError, UsageError } from './args.js';

export const CA_HELP = `Usage: scopegate ca init|show|path [--ca-dir DIR] [--json]

  init   make the interception CA in DIR (refuses to replace an existing one)
  show   describe the CA: subject, SHA-256 fingerprint, validity, file paths (never the key)
  path   print the CA certificate's path, for scripts: NODE_EXTRA_CA_CERTS=$(scopegate ca path)

Options:
  --ca-dir DIR   where the CA lives (default certs/)
  --json         show: print JSON
  -h, --help     this text`;

export function runCa(argv: string[]): number {
  const { values, positionals } = parse('ca', argv, { 'ca-dir': { type: 'string' }, json: { type: 'boolean' } }, true);
  if (values['help']) {
    process.stdout.write(`${CA_HELP}\n`);
    return 0;
  }
  const dir = (values['ca-dir'] as string | undefined) ?? 'certs';
  const action = positionals[0];
  if (positionals.length !== 1 || !['init', 'show', 'path'].includes(action ?? '')) {
    throw new UsageError(`scopegate ca: say init, show or path\n\n${CA_HELP}`);
  }
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
