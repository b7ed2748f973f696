#!/usr/bin/env -S node --max-semi-space-size=8
// The flag caps V8's young generation at 2 x 8 MiB. Uncapped, it grows to 2 x 16 MiB under many
// concurrent connections, ~15 MiB more resident memory for no measured throughput (bench/README.md).
// It can only be set when Node starts, hence the bin line; the container image sets the same in
// NODE_OPTIONS. `node dist/cli.js` without it still works, with the larger young generation.
import { runCa, CA_HELP } from './cli/ca.js';
import { runEnv, ENV_HELP } from './cli/env.js';
import { runPolicy, POLICY_HELP } from './cli/policy.js';
import { runStart, START_HELP } from './cli/start.js';
import { runExplain, EXPLAIN_HELP } from './cli/explain.js';
import { runDemo, DEMO_HELP } from './cli/demo.js';
import { runHolds, HOLDS_HELP } from './cli/holds.js';
import { VERSION } from './cli/paths.js';

const HELP = `scopegate ${VERSION}: an HTTPS egress proxy that judges AI agents' cloud API calls

Usage: scopegate <verb> [options]      (scopegate <verb> --help for each verb)

Verbs:
  start          run the proxy in the foreground (CONNECT and plain-HTTP proxy, admin API)
  ca             init | show | path: the local interception CA
  env            print the environment an agent needs to use scopegate (proxy, CA trust)
  policy check   validate a policy file; errors name file:line:column and the field
  explain        decide offline what a policy does with a recorded request, and why
  holds          list | show ID | approve ID | deny ID: held calls, through the admin API
  demo           replay the PocketOS incident against a fake Railway and show what scopegate does

Quick start:
  npx scopegate demo                   see it stop the incident (fake Railway, ~5 seconds)
  npx scopegate start                  proxy on 127.0.0.1:8080 with the shipped default policy
  eval "$(npx scopegate env)"          in the agent's shell: proxy and CA variables

Exit status: 0 success, 1 run-time failure, 2 bad usage or bad input.`;

const VERBS: Record<string, { run: (argv: string[]) => number | Promise<number>; help: string }> = {
  start: { run: runStart, help: START_HELP },
  ca: { run: runCa, help: CA_HELP },
  env: { run: runEnv, help: ENV_HELP },
  policy: { run: runPolicy, help: POLICY_HELP },
  explain: { run: runExplain, help: EXPLAIN_HELP },
  holds: { run: runHolds, help: HOLDS_HELP },
  demo: { run: runDemo, help: DEMO_HELP },
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
  const entry = VERBS[verb];
  if (!entry) {
    process.stderr.write(`scopegate: unknown verb "${verb}"; the verbs are ${Object.keys(VERBS).join(', ')}. See scopegate --help\n`);
    return 2;
  }
  return entry.run(rest);
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
