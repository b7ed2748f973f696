/**
 * Every command line scopegate takes, once: the top-level help is made from this table, the
 * README's command table must equal it, and each verb's own --help must show exactly these usage
 * lines (test/unit/command-table.test.ts compares all three), so the three cannot drift apart.
 */

/** How long the demo takes on a shared 2-core machine, said the same way everywhere. */
export const DEMO_DURATION = 'about ten seconds';

export interface CommandLine {
  verb: string;
  /** Exactly as the verb's --help prints it after "Usage: ". */
  usage: string;
  summary: string;
}

export const COMMANDS: readonly CommandLine[] = [
  { verb: 'start', usage: 'scopegate start [options]', summary: 'run the proxy in the foreground; `scopegate start --help` lists every flag' },
  { verb: 'ca', usage: 'scopegate ca init|show|path|install|uninstall [--ca-dir DIR] [--json]', summary: 'make, describe or locate the interception CA; add it to (or remove it from) the Debian/Ubuntu system store' },
  { verb: 'env', usage: 'scopegate env [--shell sh|fish|powershell|dotenv] [--listen HOST:PORT] [--ca-dir DIR]', summary: "print an agent's environment: proxy variables, CA trust, Node's fetch preload" },
  { verb: 'policy', usage: 'scopegate policy check FILE', summary: 'validate a policy; errors say `file:line:column: field: message`' },
  { verb: 'policy', usage: 'scopegate policy schema', summary: "print the policy's JSON Schema" },
  { verb: 'explain', usage: 'scopegate explain --request FILE [--scope FILE] [--policy FILE] [--json]', summary: 'decide a recorded request offline, and say why' },
  { verb: 'holds', usage: 'scopegate holds list [--status STATUS] [--json]', summary: 'held calls, newest first, with whether the agent is still waiting' },
  { verb: 'holds', usage: 'scopegate holds show ID [--json]', summary: 'one hold: every operation, its class and live scope' },
  { verb: 'holds', usage: 'scopegate holds approve ID [--reason TEXT] [--confirm NAME]', summary: 'let the held call through once (irreversible ones: --confirm with the target\'s name)' },
  { verb: 'holds', usage: 'scopegate holds deny ID [--reason TEXT]', summary: 'refuse the held call' },
  { verb: 'demo', usage: 'scopegate demo [--provider railway|neon] [--keep] [--no-color]', summary: `replay the PocketOS incident against a fake Railway (${DEMO_DURATION}); --provider neon: an agent cleaning up Neon preview branches; --keep leaves a playground running` },
  { verb: 'token', usage: 'scopegate token create --agent NAME --credential NAME [--environments LIST] [--ttl DURATION]', summary: 'mint a placeholder token for an agent (printed once)' },
  { verb: 'token', usage: 'scopegate token list [--json]', summary: 'placeholders, with agent, credential, ceiling and last use' },
  { verb: 'token', usage: 'scopegate token revoke ID', summary: 'refuse a placeholder from now on' },
  { verb: 'mcp', usage: 'scopegate mcp [--proxy URL]', summary: "an MCP server on stdio for the agent: check a call's live scope and scopegate's verdict before acting (check_call, scope_of, hold_status)" },
];

/** The README's command table, as the README must have it. */
export function commandTableMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return ['| command | what it does |', '|---|---|', ...COMMANDS.map((c) => `| \`${cell(c.usage)}\` | ${cell(c.summary)} |`)].join('\n');
}

/** The verbs section of `scopegate --help`. */
export function commandHelp(): string {
  return COMMANDS.map((c) => `  ${c.usage}\n      ${c.summary.replace(/`/g, '')}`).join('\n');
}
