import { readFileSync } from 'node:fs';
import { inspectRequest } from '../inspect/inspect-request.js';
import { decodeContentEncoding, DEFAULT_BODY_LIMITS, isBodyProblem } from '../inspect/body.js';
import { CheckFailed, errorCode, errorMessage, PolicyError, UsageError } from '../errors.js';
import { loadPolicyFile, routeHost } from '../policy/policy.js';
import { judge } from '../gate/judge.js';
import { parseAuthority } from '../net/host.js';
import { PROVIDERS } from '../providers/registry.js';
import { describeScope, unresolved, type Scope } from '../scope/scope.js';
import { parse } from './args.js';

export const EXPLAIN_HELP = `Usage: scopegate explain --request FILE [--scope FILE] [--policy FILE] [--json]

Decide offline what the policy would do with a recorded request, and say why: every operation
the request carries, its class and target, the rule that matched and the facts that held.

  --policy FILE    the policy to evaluate (default: the shipped policies/default.yaml)
  --request FILE   JSON: {"method": "POST", "url": "https://backboard.railway.com/graphql/v2",
                   "headers": {"content-type": "application/json"}, "body": {…} or "text",
                   "agent": "anonymous"}
  --scope FILE     JSON: the live scope to assume for every operation that needs one, e.g.
                   {"status": "resolved", "environments": [{"id": "env-1", "name": "production"}],
                    "shared": true, "liveDeployments": [], "backups": {"count": 2, "onTarget": true},
                    "traffic": {"windowSeconds": 900, "measuredAt": "2026-12-03T12:00:00Z", "environments":
                      [{"environment": {"id": "env-1", "name": "production"}, "requests": 1204,
                        "lastRequestAt": "2026-12-03T11:59:57Z", "bytesIn": 0, "bytesOut": 0}]}}
                   (traffic: a figure left out is unknown; without "traffic" the traffic is unknown)
                   Without it, scopes are unresolved, as when a live lookup fails.
  --json           print the decision as JSON
  -h, --help       this text

Exit status: 0 when the request could be evaluated (whatever the decision), 2 on bad input.`;

interface RecordedRequest {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  agent?: string;
}

function readJson(flag: string, path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${path}: cannot read it (${errorCode(err)})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: not valid JSON (${errorMessage(err)})`);
  }
}

function checkScope(v: unknown, path: string): Scope {
  const s = v as Partial<Scope>;
  if (typeof s !== 'object' || s === null || !['resolved', 'unresolved'].includes(String(s.status))) {
    throw new UsageError(`--scope ${path}: "status" must be "resolved" or "unresolved"`);
  }
  if (!Array.isArray(s.environments) || s.environments.some((e) => typeof e?.id !== 'string' || typeof e?.name !== 'string')) {
    throw new UsageError(`--scope ${path}: "environments" must be a list of {"id", "name"}`);
  }
  if (s.traffic !== undefined && (typeof s.traffic !== 'object' || s.traffic === null || typeof s.traffic.windowSeconds !== 'number' || !Array.isArray(s.traffic.environments) || s.traffic.environments.some((e) => typeof e?.environment?.name !== 'string'))) {
    throw new UsageError(`--scope ${path}: "traffic" must be {"windowSeconds", "measuredAt", "environments": [{"environment": {"id", "name"}, "requests"?, "bytesIn"?, "bytesOut"?}]}`);
  }
  return { shared: false, liveDeployments: [], ...s } as Scope;
}

export async function runExplain(argv: string[]): Promise<number> {
  const { values } = parse('explain', argv, { policy: { type: 'string' }, request: { type: 'string' }, scope: { type: 'string' }, json: { type: 'boolean' } });
  if (values['help']) {
    process.stdout.write(`${EXPLAIN_HELP}\n`);
    return 0;
  }
  const { DEFAULT_POLICY } = await import('./paths.js');
  const policyPath = (values['policy'] as string | undefined) ?? DEFAULT_POLICY;
  const requestPath = values['request'] as string | undefined;
  if (!requestPath) throw new UsageError(`scopegate explain: --request FILE is required\n\n${EXPLAIN_HELP}`);
  let policy;
  try {
    policy = loadPolicyFile(policyPath, PROVIDERS);
  } catch (err) {
    if (err instanceof CheckFailed || err instanceof PolicyError) throw new UsageError(err.message);
    throw err;
  }
  const rec = readJson('--request', requestPath) as RecordedRequest;
  if (typeof rec !== 'object' || rec === null || typeof rec.url !== 'string') throw new UsageError(`--request ${requestPath}: needs at least "url"`);
  let url: URL;
  try {
    url = new URL(rec.url);
  } catch {
    throw new UsageError(`--request ${requestPath}: "url" is not an absolute URL`);
  }
  const scope = values['scope'] ? checkScope(readJson('--scope', values['scope'] as string), values['scope'] as string) : unresolved('offline: no live lookup (pass --scope FILE to assume one)');
  const host = parseAuthority(url.host, url.protocol === 'http:' ? 80 : 443).host;
  const route = routeHost(policy, host);
  const agent = rec.agent ?? 'anonymous';
  const out = (o: unknown, text: string): number => {
    process.stdout.write(values['json'] ? `${JSON.stringify(o, null, 2)}\n` : `${text}\n`);
    return 0;
  };
  if (route.kind === 'refuse') return out({ host, decision: 'deny', rule: 'egress', reason: route.reason }, `decision deny: ${route.reason}`);
  if (route.kind === 'tunnel') return out({ host, guarded: false, decision: 'tunnel' }, `${host} is not guarded by ${policyPath}: egress allows it (tunnelled untouched)`);
  const provider = route.provider;
  const headers = Object.fromEntries(Object.entries(rec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  let body: Buffer = rec.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof rec.body === 'string' ? rec.body : JSON.stringify(rec.body));
  if (headers['content-type'] === undefined && typeof rec.body === 'object') headers['content-type'] = 'application/json';
  const decoded = decodeContentEncoding(body, headers['content-encoding'], DEFAULT_BODY_LIMITS);
  if (isBodyProblem(decoded)) return out({ decision: 'deny', rule: 'unjudgeable', reason: decoded.reason }, `decision deny (unjudgeable: ${decoded.reason})`);
  body = decoded;
  const adapter = PROVIDERS.get(provider.name)!;
  const inspection = await inspectRequest(adapter, { method: (rec.method ?? 'POST').toUpperCase(), url: `${url.pathname}${url.search}`, contentType: headers['content-type'], body });
  if (!inspection.ok) return out({ decision: 'deny', rule: 'unjudgeable', reason: inspection.reason }, `decision deny (unjudgeable: ${inspection.reason}); the request would not be forwarded`);
  const decision = await judge(policy, agent, inspection.operations, async () => scope);
  const lines = [`request   ${(rec.method ?? 'POST').toUpperCase()} ${rec.url} (agent ${agent}, ${inspection.transport})`];
  for (const j of decision.judged ?? []) {
    const o = j.operation;
    const rule = policy.rules.find((r) => r.name === j.verdict.rule);
    lines.push(
      `operation ${o.name}${o.alias ? ` (alias ${o.alias})` : ''}: ${o.type}, class ${o.class}${o.target ? `, target ${o.target.type} ${o.target.id ?? '(absent)'}` : ''}${o.reach ? `, reach ${o.reach}` : ''}`,
      ...(o.classReason ? [`  class     ${o.classReason}`] : []),
      `  scope     ${describeScope(j.scope)}`,
      `  rule      ${j.verdict.rule}${rule ? ` (${policyPath}:${rule.line})` : ''} → ${j.verdict.action}`,
      `  because   ${j.verdict.because.join('; ')}`,
    );
  }
  lines.push(`decision  ${decision.kind}${decision.wouldBe ? ` (monitor mode: would ${decision.wouldBe})` : ''}, by rule ${decision.rule} on ${decision.operation?.name}`);
  return out(
    {
      decision: decision.kind,
      ...(decision.wouldBe ? { wouldBe: decision.wouldBe } : {}),
      rule: decision.rule,
      operations: (decision.judged ?? []).map((j) => ({ operation: j.operation.name, alias: j.operation.alias, class: j.operation.class, target: j.operation.target, reach: j.operation.reach, scope: j.scope, action: j.verdict.action, rule: j.verdict.rule, because: j.verdict.because })),
    },
    lines.join('\n'),
  );
}
