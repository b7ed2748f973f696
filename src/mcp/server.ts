import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ProviderAdapter } from '../providers/types.js';
import type { PreflightClient } from './client.js';

/**
 * The MCP face of scopegate's pre-flight API: three tools an agent calls before it acts. Their
 * descriptions are what teaches an agent when to use them, so they name the guarded providers and
 * hosts — from the adapters' data, never written here.
 */

const textOf = (text: string, structured?: Record<string, unknown>): CallToolResult => ({ content: [{ type: 'text', text }], ...(structured ? { structuredContent: structured } : {}) });
const failure = (text: string): CallToolResult => ({ content: [{ type: 'text', text }], isError: true });

function providerWords(providers: readonly ProviderAdapter[]): { names: string; hosts: string } {
  return { names: providers.map((p) => p.name).join(', '), hosts: providers.flatMap((p) => p.defaultHosts).join(', ') };
}

function checkDescription(providers: readonly ProviderAdapter[]): string {
  const { names, hosts } = providerWords(providers);
  const examples = providers.filter((p) => p.checkExample).map((p) => `${p.name}: {"host": "${p.defaultHosts[0]}", "path": "${p.checkExample!.path}", "method": "${p.checkExample!.method}", "body": ${JSON.stringify(p.checkExample!.body)}}`);
  return [
    `Before any destructive or irreversible call on ${names} (${hosts}) — deleting or restoring a volume, service, environment, database branch or backup; changing tokens, members or access — check it here first.`,
    'scopegate looks the target up live and says what it is really bound to (project, every environment it reaches, live deployments, backups and where they are stored) and what it would do with the call: allow, deny, or hold for a person\'s approval. Nothing is executed, no hold is made.',
    'Pass the call exactly as you would send it: host, path, method and body (a JSON value or the raw text). Your identity comes from this server\'s environment; pass headers only when the call would carry other credentials.',
    'deny: do not make the call; tell the person you work for what it would touch. hold: the call would wait for a person; make it only if they should decide. Also use it when you are unsure what an id belongs to: an id in a task, file or log is not its scope.',
    ...(examples.length > 0 ? [`Example — ${examples.join('; ')}`] : []),
  ].join('\n');
}

function scopeDescription(providers: readonly ProviderAdapter[]): string {
  const { names } = providerWords(providers);
  return [
    `The live scope of a ${names} resource, by provider, type and id: the project, the environments it is bound to (and whether it is shared between them, as a volume shared by staging and production is), live deployments on it, and its backups and where they are stored.`,
    'Ask before acting on an id you found rather than created; a staging-looking name or an environment variable does not say where a resource is bound.',
  ].join('\n');
}

const HOLD_DESCRIPTION = [
  'The status of a hold scopegate put on one of your calls, by its id (the holdId in a SCOPEGATE_HOLD_PENDING answer, extensions.holdId).',
  'pending: a person has not decided yet; approved: make the identical call again and it goes through once; denied: do not make it; expired or used: the call needs a new hold.',
].join('\n');

/** The one-paragraph answer to a check: the verdict's message, then each operation when there are several. */
function checkText(a: Record<string, unknown>): string {
  const ops = (a['operations'] as { operation: string; decision: string; scope: { summary: string } }[] | undefined) ?? [];
  const lines = [String(a['message'] ?? '')];
  if (ops.length > 1) for (const o of ops) lines.push(`- ${o.operation}: ${o.decision}; ${o.scope.summary}`);
  lines.push(`(decision ${String(a['decisionId'] ?? '')}, as agent ${String(a['agent'] ?? '')})`);
  return lines.join('\n');
}

function scopeText(a: Record<string, unknown>): string {
  const s = (a['scope'] ?? {}) as { summary?: string; status?: string; liveDeployments?: { environment: string; count: number }[] };
  const t = (a['target'] ?? {}) as { type?: string; id?: string };
  return `${t.type ?? ''} ${t.id ?? ''}: ${s.summary ?? 'no scope'}${s.status === 'unresolved' ? ' — scopegate could not see all of it, so a call on it would be held or denied, never let through on a guess' : ''}`;
}

function holdText(h: Record<string, unknown>): string {
  return `hold ${String(h['id'])} (${String(h['operation'])}) is ${String(h['status'])}: ${String(h['next'])}`;
}

const scopeShape = z.object({ status: z.string(), summary: z.string() }).passthrough();

export function createMcpServer(client: PreflightClient, providers: readonly ProviderAdapter[], version: string): McpServer {
  const server = new McpServer(
    { name: 'scopegate', version },
    {
      instructions: `scopegate guards your calls to ${providerWords(providers).names}. Before a destructive call there, use check_call: it shows what the call would really touch, live, and whether scopegate would allow, deny or hold it. A denied or held answer from the API comes from scopegate; hold_status tells you where a hold stands.`,
    },
  );
  const providerOfHost = (host: string): string | null => {
    const h = host.replace(/^https?:\/\//i, '').split(/[/:]/)[0]!.toLowerCase();
    return providers.find((p) => p.defaultHosts.includes(h))?.name ?? null;
  };

  server.registerTool(
    'check_call',
    {
      title: 'Check a call before making it',
      description: checkDescription(providers),
      inputSchema: {
        host: z.string().describe(`the API host the call goes to (${providerWords(providers).hosts})`),
        path: z.string().describe('the request path, e.g. the GraphQL endpoint\'s path'),
        method: z.string().optional().describe('the HTTP method (default POST)'),
        headers: z.record(z.string()).optional().describe('provider auth headers the call would carry, only if they differ from this server\'s environment'),
        body: z.unknown().describe('the request body as the call would send it: a JSON value (e.g. {"query": …, "variables": …}) or a string'),
      },
      outputSchema: z.object({
        decision: z.enum(['allow', 'deny', 'hold']),
        rule: z.string(),
        reason: z.string(),
        message: z.string(),
        agent: z.string(),
        decisionId: z.string(),
        operations: z.array(z.object({ operation: z.string(), class: z.string(), decision: z.string(), rule: z.string(), scope: scopeShape }).passthrough()),
        wouldBe: z.string().optional(),
        approval: z.object({ holdId: z.string(), approvedBy: z.string().nullable(), expiresAt: z.string() }).optional(),
      }).passthrough(),
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async (args) => {
      const headers = args.headers ?? client.callHeaders(providerOfHost(args.host));
      const r = await client.call('POST', '/v1/check', { host: args.host, path: args.path, method: args.method ?? 'POST', headers, body: args.body });
      if (!r.ok) return failure(r.message);
      return textOf(checkText(r.body), r.body);
    },
  );

  server.registerTool(
    'scope_of',
    {
      title: 'Live scope of a resource',
      description: scopeDescription(providers),
      inputSchema: {
        provider: z.string().describe(`the provider (${providerWords(providers).names})`),
        type: z.string().describe('the resource type as the provider names it: volume, service, environment, project …'),
        id: z.string().describe('the resource id'),
      },
      outputSchema: z.object({
        agent: z.string(),
        provider: z.string(),
        target: z.object({ type: z.string(), id: z.string() }),
        scope: scopeShape,
        decisionId: z.string(),
      }).passthrough(),
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async (args) => {
      const r = await client.call('POST', '/v1/scope', { provider: args.provider, type: args.type, id: args.id, headers: client.callHeaders(args.provider.toLowerCase()) });
      if (!r.ok) return failure(r.message);
      return textOf(scopeText(r.body), r.body);
    },
  );

  server.registerTool(
    'hold_status',
    {
      title: 'Status of a held call',
      description: HOLD_DESCRIPTION,
      inputSchema: { holdId: z.string().describe('the hold id, e.g. H-…') },
      outputSchema: z.object({ id: z.string(), status: z.string(), operation: z.string(), next: z.string() }).passthrough(),
      annotations: { readOnlyHint: true },
    },
    async (args) => {
      const r = await client.call('GET', `/v1/holds/${encodeURIComponent(args.holdId)}`);
      if (!r.ok) return failure(r.message);
      return textOf(holdText(r.body), r.body);
    },
  );
  return server;
}
