#!/usr/bin/env -S node --max-semi-space-size=8
// The flag caps V8's young generation at 2 x 8 MiB. Uncapped, it grows to 2 x 16 MiB under many
// concurrent connections, ~15 MiB more resident memory for no measured throughput (bench/README.md).
// It can only be set when Node starts, hence the bin line; the container image sets the same in
// NODE_OPTIONS. `node dist/cli.js` without it still works, with the larger young generation.
import { VERSION } from './cli/paths.js';
import { commandHelp, DEMO_DURATION } from './cli/commands.js';

const HELP = `scopegate ${VERSION}: an HTTPS egress proxy that judges AI agents' cloud API calls

Usage: scopegate <verb> [options]      (scopegate <verb> --help for each verb)

Commands:
${commandHelp()}

Quick start:
  npx scopegate demo                   see it stop the incident (fake Railway, ${DEMO_DURATION})
  npx scopegate demo --keep            the same, then leave it running as a playground to try by hand
  npx scopegate start                  proxy on 127.0.0.1:8080 with the shipped default policy
  eval "$(npx scopegate env)"          in the agent's shell: proxy and CA variables

Exit status: 0 success, 1 run-time failure, 2 bad usage or bad input.`;

// Each verb's module is loaded only when it runs: `start` is a long-lived process, and the code of
// the others (the demo's fake Railway, graphql-js's executor with it) would sit in its memory.
type Verb = (argv: string[]) => number | Promise<number>;
const VERBS: Record<string, () => Promise<Verb>> = {
  start: async () => (await import('./cli/start.js')).runStart,
  ca: async () => (await import('./cli/ca.js')).runCa,
  env: async () => (await import('./cli/env.js')).runEnv,
  policy: async () => (await import('./cli/policy.js')).runPolicy,
  explain: async () => (await import('./cli/explain.js')).runExplain,
  holds: async () => (await import('./cli/holds.js')).runHolds,
  demo: async () => (await import('./cli/demo.js')).runDemo,
  token: async () => (await import('./cli/token.js')).runToken,
  mcp: async () => (await import('./cli/mcp.js')).runMcp,
};

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(`${HELP}\n`);
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const load = VERBS[verb];
  if (!load) {
    process.stderr.write(`scopegate: unknown verb "${verb}"; the verbs are ${Object.keys(VERBS).join(', ')}. See scopegate --help\n`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error & { exitCode?: number }) => {
    process.stderr.write(`scopegate: ${err.message}\n`);
    process.exitCode = err.exitCode ?? 1;
  },
);
