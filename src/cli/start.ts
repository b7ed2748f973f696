import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { relative, resolve } from 'node:path';
import type { LevelWithSilent } from 'pino';
import { createLogger, LOG_LEVELS } from '../audit/logger.js';
import { CheckFailed, UsageError, errorCode, errorMessage } from '../errors.js';
import { loadPolicyFile, type Policy } from '../policy/policy.js';
import { normaliseHost } from '../net/host.js';
import { createScopegate, type ScopegateConfig } from '../app.js';
import type { Route } from '../proxy/upstream.js';
import { parse, parseDuration, parseHostPort, parseSeconds, type Options } from './args.js';
import { DEFAULT_POLICY, VERSION } from './paths.js';
import { PROVIDERS } from '../providers/registry.js';
import type { AnswerStatusMode } from '../providers/types.js';
import { DEFAULT_CLIENT_LIMITS } from '../proxy/client-limits.js';
import { parseStoreSpec } from '../holds/store-spec.js';

export const START_HELP = `Usage: scopegate start [options]

Run the proxy in the foreground until SIGTERM or SIGINT.

Options:
  --policy FILE            YAML policy (default: the shipped policies/default.yaml)
  --listen HOST:PORT       explicit proxy: CONNECT for HTTPS, absolute-form for plain HTTP
                           (default 127.0.0.1:8080; port 0 picks a free port, logged at start)
  --transparent HOST:PORT  transparent TLS listener for connections the network redirects here
                           (iptables/nftables REDIRECT or DNAT of outbound 443); the host comes
                           from the TLS ClientHello's SNI, and a hello without SNI is refused
  --admin HOST:PORT        admin API, /healthz, /metrics (default 127.0.0.1:8081)
  --admin-token TOKEN      bearer token for the admin API (or env SCOPEGATE_ADMIN_TOKEN), at least 16
                           characters, not an example's placeholder; without one, a random token
                           is kept in DATA_DIR/admin-token (mode 0600)
  --ca-dir DIR             interception CA: ca.pem + ca-key.pem, created if missing (default certs/)
  --data-dir DIR           durable state (default .scopegate/)
  --store URL              where holds, approvals, placeholders and the audit trail live:
                           sqlite:PATH (default sqlite:DATA_DIR/scopegate.db) or
                           postgres://USER:PASSWORD@HOST:PORT/DB (or env SCOPEGATE_STORE; libpq's
                           URL, PG* variables fill what it leaves out). Replicas on one Postgres
                           store act as one scopegate; the password is never printed
  --route HOST=ADDR:PORT   connect to ADDR:PORT instead of resolving HOST; TLS SNI and the
                           certificate check stay HOST (repeatable)
  --upstream-ca FILE       an extra CA trusted for upstream TLS, on top of the system roots
  --upstream-timeout SECONDS  an upstream that has not started its answer by then gets the agent
                           a 504 (default 60)
  --answer-status graphql|http
                           status of scopegate's own GraphQL answers: 200 with errors (graphql),
                           or 403 denied / 409 pending (http)  (default graphql)
  --max-body BYTES         largest request body judged on a guarded host; larger gets 413
                           (default 5242880, also the limit after decompression)
  --lookup-timeout SECONDS  a live scope lookup (retries included) not done by then leaves the
                           scope unresolved (default 5)
  --traffic-window DURATION  how far back "recent traffic" (requests served, network bytes) looks
                           in the live scope; 0 turns the traffic lookups off, leaving traffic
                           unknown (default 15m)
  --lookup-cache SECONDS   reuse a lookup's answer this long for creating, modifying and deploying
                           calls of the same credential; destructive calls always ask live (default 5)
  --hold-timeout SECONDS   how long a held call waits for a person before the agent gets a
                           "pending" answer (default 25; under the 30 s many clients give up at)
  --hold-ttl DURATION      a pending hold expires this long after it was made (default 24h)
  --approval-ttl DURATION  an approval lets the identical call through only this long (default 15m)
  --notify URL             POST a JSON notification of every new hold here (repeatable)
  --notify-slack URL       post a Slack-compatible message of every new hold here (repeatable)
  --header-timeout SECONDS a client must send its request headers within this (default 20)
  --request-timeout SECONDS  … and its whole request, body included, within this (default 120)
  --idle-timeout SECONDS   an idle keep-alive connection is closed after this (default 30)
  --drain-timeout SECONDS  on SIGTERM/SIGINT, how long requests in flight may finish (default 10)
  --check-concurrency N    pre-flight checks (POST /v1/check, /v1/scope on the --listen address
                           or http://scopegate.internal through the proxy) one caller may have in
                           flight at once; more get 429 (default 4)
  --log-level LEVEL        ${LOG_LEVELS.join(', ')} (default info)
  -h, --help               this text

Live scope lookups use the calling agent's own credential for the provider, unless the provider
has a read-broad resolver token configured:
${[...PROVIDERS.values()].flatMap((p) => (p.help ? [`  ${p.name}: ${p.help}`] : [])).join('\n')}
The policy is reloaded on SIGHUP and when its file changes; an invalid file keeps the old policy.
Logs are JSON lines on stdout, one per request; the start-up summary goes to stderr.
Exit status: 0 after a clean shutdown, 1 on a run-time failure, 2 on bad usage or input.`;

const OPTIONS: Options = {
  policy: { type: 'string' },
  listen: { type: 'string' },
  transparent: { type: 'string' },
  admin: { type: 'string' },
  'admin-token': { type: 'string' },
  'ca-dir': { type: 'string' },
  'data-dir': { type: 'string' },
  store: { type: 'string' },
  route: { type: 'string', multiple: true },
  'upstream-ca': { type: 'string' },
  'upstream-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  'header-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'answer-status': { type: 'string' },
  'max-body': { type: 'string' },
  'lookup-timeout': { type: 'string' },
  'traffic-window': { type: 'string' },
  'hold-timeout': { type: 'string' },
  'hold-ttl': { type: 'string' },
  'approval-ttl': { type: 'string' },
  notify: { type: 'string', multiple: true },
  'notify-slack': { type: 'string', multiple: true },
  'lookup-cache': { type: 'string' },
  'log-level': { type: 'string' },
  'check-concurrency': { type: 'string' },
};

/** What `start`'s arguments parse into: the app's config, with files named by path and the run's own settings. */
export type StartConfig = Omit<ScopegateConfig, 'policy' | 'policyPath' | 'providers' | 'logger' | 'upstreamCa'> & {
  policyPath: string;
  upstreamCaPath?: string;
  drainMs: number;
  logLevel: LevelWithSilent;
};

/** --traffic-window: 0 (off), or a window from 1 minute (the metrics' own granularity) to 7 days. */
function trafficWindow(value: string): number {
  const ms = parseDuration('--traffic-window', value);
  if (ms !== 0 && (ms < 60_000 || ms > 7 * 86_400_000)) throw new UsageError(`--traffic-window "${value}" must be 0 (off) or from 1m to 7d`);
  return ms;
}

export function parseStartArgs(argv: string[], env: NodeJS.ProcessEnv): StartConfig | 'help' {
  const { values: v } = parse('start', argv, OPTIONS);
  if (v['help']) return 'help';
  const routes = new Map<string, Route>();
  for (const r of (v['route'] as string[] | undefined) ?? []) {
    const eq = r.indexOf('=');
    const host = eq > 0 ? normaliseHost(r.slice(0, eq)) : null;
    if (eq <= 0 || host === null) throw new UsageError(`--route "${r}" must be HOST=ADDR:PORT`);
    const to = parseHostPort('--route', r.slice(eq + 1));
    routes.set(host, { address: to.host, port: to.port });
  }
  const level = (v['log-level'] as string | undefined) ?? 'info';
  if (!LOG_LEVELS.includes(level as LevelWithSilent)) throw new UsageError(`--log-level "${level}" must be one of ${LOG_LEVELS.join(', ')}`);
  const config: StartConfig = {
    policyPath: (v['policy'] as string | undefined) ?? DEFAULT_POLICY,
    listen: parseHostPort('--listen', (v['listen'] as string | undefined) ?? '127.0.0.1:8080'),
    admin: parseHostPort('--admin', (v['admin'] as string | undefined) ?? '127.0.0.1:8081'),
    caDir: (v['ca-dir'] as string | undefined) ?? 'certs',
    dataDir: (v['data-dir'] as string | undefined) ?? '.scopegate',
    routes,
    drainMs: parseSeconds('--drain-timeout', (v['drain-timeout'] as string | undefined) ?? '10', 0, 3600) * 1000,
    logLevel: level as LevelWithSilent,
    answerStatus: parseAnswerStatus((v['answer-status'] as string | undefined) ?? 'graphql'),
    maxBody: parseBytes('--max-body', (v['max-body'] as string | undefined) ?? '5242880'),
    lookupTimeoutMs: parseSeconds('--lookup-timeout', (v['lookup-timeout'] as string | undefined) ?? '5', 0.1, 60) * 1000,
    trafficWindowMs: trafficWindow((v['traffic-window'] as string | undefined) ?? '15m'),
    lookupCacheMs: parseSeconds('--lookup-cache', (v['lookup-cache'] as string | undefined) ?? '5', 0, 300) * 1000,
    holdTimeoutMs: parseSeconds('--hold-timeout', (v['hold-timeout'] as string | undefined) ?? '25', 0, 3600) * 1000,
    holdTtlMs: parseDuration('--hold-ttl', (v['hold-ttl'] as string | undefined) ?? '24h'),
    approvalTtlMs: parseDuration('--approval-ttl', (v['approval-ttl'] as string | undefined) ?? '15m'),
    upstreamTimeoutMs: parseSeconds('--upstream-timeout', (v['upstream-timeout'] as string | undefined) ?? '60', 0.5, 3600) * 1000,
    limits: {
      ...DEFAULT_CLIENT_LIMITS,
      headerTimeoutMs: parseSeconds('--header-timeout', (v['header-timeout'] as string | undefined) ?? '20', 0.5, 600) * 1000,
      requestTimeoutMs: parseSeconds('--request-timeout', (v['request-timeout'] as string | undefined) ?? '120', 1, 3600) * 1000,
      idleTimeoutMs: parseSeconds('--idle-timeout', (v['idle-timeout'] as string | undefined) ?? '30', 0.5, 3600) * 1000,
    },
    webhooks: [
      ...((v['notify'] as string[] | undefined) ?? []).map((url) => ({ url: checkUrl('--notify', url), format: 'json' as const })),
      ...((v['notify-slack'] as string[] | undefined) ?? []).map((url) => ({ url: checkUrl('--notify-slack', url), format: 'slack' as const })),
    ],
  };
  refuseExamplePlaceholders(env);
  const flagToken = v['admin-token'] as string | undefined;
  const token = flagToken ?? env['SCOPEGATE_ADMIN_TOKEN'];
  if (token !== undefined) {
    const source = flagToken !== undefined ? 'flag' : 'env';
    config.adminToken = { token: checkAdminToken(token, source === 'flag' ? '--admin-token' : 'SCOPEGATE_ADMIN_TOKEN'), source };
  }
  config.store = parseStoreSpec(v['store'] as string | undefined, env, config.dataDir);
  if (v['upstream-ca']) config.upstreamCaPath = v['upstream-ca'] as string;
  if (v['transparent']) config.transparent = parseHostPort('--transparent', v['transparent'] as string);
  if (v['check-concurrency'] !== undefined) {
    const n = v['check-concurrency'] as string;
    if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 1000) throw new UsageError(`--check-concurrency "${n}" must be a whole number from 1 to 1000`);
    config.preflightConcurrency = Number(n);
  }
  return config;
}

function checkUrl(flag: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${flag} needs an http(s) URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UsageError(`${flag} needs an http(s) URL`);
  return url;
}

function parseAnswerStatus(v: string): AnswerStatusMode {
  if (v !== 'graphql' && v !== 'http') throw new UsageError(`--answer-status "${v}" must be graphql or http`);
  return v;
}

function parseBytes(flag: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1024 || Number(v) > 1024 ** 3) throw new UsageError(`${flag} "${v}" must be a number of bytes from 1024 to 1073741824`);
  return Number(v);
}

function loadPolicyOrExit(path: string): Policy {
  try {
    return loadPolicyFile(path, PROVIDERS);
  } catch (err) {
    if (err instanceof CheckFailed) throw new UsageError(`invalid policy:\n${err.message}`);
    throw new UsageError(errorMessage(err));
  }
}

function readUpstreamCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--upstream-ca ${path}: cannot read it (${errorCode(err) ?? errorMessage(err)})`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new UsageError(`--upstream-ca ${path}: not a PEM certificate`);
  }
  return pem;
}


const display = (p: string): string => {
  const rel = relative(process.cwd(), resolve(p));
  return rel.startsWith('..') ? resolve(p) : rel || '.';
};

/** Run the proxy until a signal. Resolves with the exit code. */
export async function runStart(argv: string[]): Promise<number> {
  const parsed = parseStartArgs(argv, process.env);
  if (parsed === 'help') {
    process.stdout.write(`${START_HELP}\n`);
    return 0;
  }
  const config = parsed;
  const policy = loadPolicyOrExit(config.policyPath);
  const upstreamCa = config.upstreamCaPath ? readUpstreamCa(config.upstreamCaPath) : undefined;
  const logger = createLogger(config.logLevel, undefined, [...PROVIDERS.values()].flatMap((p) => p.secretHeaders));
  // a bug ends the process (a proxy in an unknown state must not go on judging), but with a line
  // in the log saying so; pino writes out the batched lines on exit
  process.once('uncaughtException', (err, origin) => {
    logger.fatal({ origin, error: String(err?.message ?? err).slice(0, 500) }, 'crashed: exiting; holds and decisions are in the store and survive a restart');
    process.stderr.write(`scopegate crashed (${origin}): ${err?.stack ?? err}\n`);
    process.exit(1);
  });

  const { upstreamCaPath: _ca, ...rest } = config;
  const app = await createScopegate({ ...rest, policy, providers: PROVIDERS, logger, ...(upstreamCa ? { upstreamCa } : {}) });
  const at = await app.listen();
  const { ca, bundlePath, adminToken: token } = app;
  logger.info(
    {
      version: VERSION,
      listen: `${at.proxy.address}:${at.proxy.port}`,
      ...(at.transparent ? { transparent: `${at.transparent.address}:${at.transparent.port}` } : {}),
      admin: `${at.admin.address}:${at.admin.port}`,
      policy: config.policyPath,
      store: config.store?.shown,
      guarded: policy.providers.map((p) => ({ provider: p.name, hosts: p.hosts })),
      caCreated: app.caCreated,
    },
    'listening',
  );
  const guarded = policy.providers.flatMap((p) => p.hosts).join(', ') || 'none';
  process.stderr.write(
    [
      `scopegate ${VERSION}: proxy ${at.proxyUrl}${at.transparent ? `, transparent ${at.transparent.address}:${at.transparent.port}` : ''}, admin http://${at.admin.address}:${at.admin.port}`,
      `  store    ${config.store?.shown ?? 'sqlite'}`,
      `  policy   ${display(config.policyPath)} (guards ${guarded}; other hosts: egress ${policy.egress.default})`,
      `  CA       ${display(ca.certPath)}${app.caCreated ? ' (created now)' : ''}; clients must trust it: ${display(bundlePath)} is it plus the system roots`,
      `  agent    export HTTPS_PROXY=${at.proxyUrl} HTTP_PROXY=${at.proxyUrl} NODE_EXTRA_CA_CERTS=${resolve(ca.certPath)} SSL_CERT_FILE=${resolve(bundlePath)}`,
      `           (or: eval "$(npx scopegate env --listen ${at.proxy.address}:${at.proxy.port} --ca-dir ${display(config.caDir)})" for every client's variables)`,
      `  holds    approve at http://${at.admin.address}:${at.admin.port}/ or with \`scopegate holds list\` / \`approve ID\``,
      `  admin    token in ${token.path ? display(token.path) : token.source === 'env' ? 'SCOPEGATE_ADMIN_TOKEN' : '--admin-token'}`,
      ...at.warnings.map((w) => `  WARNING  ${w}`),
      '',
    ].join('\n'),
  );

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, drainMs: config.drainMs }, 'shutting down: no new connections; letting requests in flight finish');
      void (async () => {
        const { unfinished } = await app.shutdown(config.drainMs);
        logger.info({ unfinished }, unfinished > 0 ? 'stopped; requests still in flight were cut' : 'stopped');
        logger.flush?.();
        resolveExit(0);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

const MAKE_TOKEN = `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`;

/** What the example env files (docker/*.env.example) hold until a user fills them in, and the like. */
const PLACEHOLDER = /^(replace[-_ ]?with|changeme|change[-_ ]me|your[-_ ])/i;

/**
 * A secret scopegate reads from the environment that is still an example's placeholder: the user
 * copied the example and missed a line. Refused at start, by name (the value is never echoed),
 * rather than found later as lookups that fail for want of a real token, or a store password
 * anybody who read the example knows.
 */
function refuseExamplePlaceholders(env: NodeJS.ProcessEnv): void {
  const left = Object.keys(env)
    .filter((k) => (k.startsWith('SCOPEGATE_') || k === 'PGPASSWORD') && k !== 'SCOPEGATE_ADMIN_TOKEN' && PLACEHOLDER.test(env[k] ?? ''))
    .sort();
  if (left.length > 0) {
    throw new UsageError(`${left.join(', ')} ${left.length === 1 ? 'is' : 'are'} still the example's placeholder ("replace-with-…" or the like): fill in the real value, or unset ${left.length === 1 ? 'it' : 'them'}`);
  }
}

/**
 * The admin token approves held calls, so one anybody could guess is refused: too short, or still
 * the placeholder the example env files ship with (docker/*.env.example say "replace-with-…").
 */
function checkAdminToken(token: string, from: string): string {
  if (PLACEHOLDER.test(token)) {
    throw new UsageError(`the admin token in ${from} is still the example's placeholder ("replace-with-…" or the like): anyone who has read the example could approve held calls. Make one with ${MAKE_TOKEN}, or leave ${from} unset and scopegate makes one in DATA_DIR/admin-token`);
  }
  if (token.length < 16) throw new UsageError(`the admin token in ${from} must be at least 16 characters (it has ${token.length}). Make one with ${MAKE_TOKEN}`);
  return token;
}
