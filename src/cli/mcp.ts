import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { UsageError } from '../errors.js';
import { createMcpServer } from '../mcp/server.js';
import { identityFromEnv, PreflightClient } from '../mcp/client.js';
import { PROVIDERS } from '../providers/registry.js';
import { parse } from './args.js';
import { VERSION } from './paths.js';

const PROVIDER_VARIABLES = [...PROVIDERS.values()].flatMap((p) => (p.agentTokenEnv ?? []).map((e) => e.variable));

export const MCP_HELP = `Usage: scopegate mcp [--proxy URL]

An MCP server on stdio that gives an agent the live scope before it acts: the tools check_call
(what scopegate would do with a call, and what its target is bound to, without executing it),
scope_of (the live scope of a resource) and hold_status (where one of its holds stands). It asks
the running scopegate (scopegate start) and acts as the agent, with the agent's identity:

  SCOPEGATE_TOKEN        the agent's placeholder (or provider) token
  ${PROVIDER_VARIABLES.join(', ')}
                         used when SCOPEGATE_TOKEN is not set, as the provider's own tools use them
  SCOPEGATE_PROXY_AUTH   agent:secret, when the policy declares agents (sent as Proxy-Authorization)

In an agent's MCP configuration:
  {"mcpServers": {"scopegate": {"command": "npx", "args": ["scopegate", "mcp"],
                                "env": {"SCOPEGATE_TOKEN": "<the agent's placeholder>"}}}}

Options:
  --proxy URL   where scopegate listens (its --listen), http://HOST:PORT (default http://127.0.0.1:8080)
  -h, --help    this text

stdout carries the MCP protocol only; problems reaching scopegate are answered as tool errors.`;

export function parseProxyUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`--proxy "${value}" must be a URL such as http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' || u.pathname !== '/' || u.search || u.username) throw new UsageError(`--proxy "${value}" must be http://HOST:PORT: scopegate's --listen address, with no path`);
  return `http://${u.host}`;
}

export async function runMcp(argv: string[]): Promise<number> {
  const { values } = parse('mcp', argv, { proxy: { type: 'string' } });
  if (values['help']) {
    process.stdout.write(`${MCP_HELP}\n`);
    return 0;
  }
  const base = parseProxyUrl((values['proxy'] as string | undefined) ?? 'http://127.0.0.1:8080');
  const client = new PreflightClient(base, identityFromEnv(process.env, PROVIDERS.values()));
  const server = createMcpServer(client, [...PROVIDERS.values()], VERSION);
  const transport = new StdioServerTransport();
  // runs until the client closes stdin; scopegate being down is each tool's answer, not a crash here
  const closed = new Promise<void>((resolve) => {
    server.server.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close().catch(() => undefined);
  await client.close().catch(() => undefined);
  return 0;
}
