import type { AddressInfo } from 'node:net';
import type { Logger } from './audit/logger.js';
import { AdminServer } from './admin/admin-server.js';
import { Metrics } from './admin/metrics.js';
import { resolveAdminToken, type GivenAdminToken } from './admin/token.js';
import { CaError, errorMessage, RuntimeError, StoreError } from './errors.js';
import { createGatekeeper } from './gate/admission.js';
import type { HoldHints } from './gate/decision.js';
import { Recorder } from './gate/record.js';
import { Holds } from './holds/holds.js';
import { alerter, notifier, type Webhook } from './holds/notify.js';
import { openStore } from './holds/open-store.js';
import { defaultStore, type StoreSpec } from './holds/store-spec.js';
import { Placeholders } from './custody/placeholders.js';
import { InspectionCache } from './inspect/inspection-cache.js';
import type { Policy } from './policy/policy.js';
import { watchPolicy } from './policy/reload.js';
import type { AnswerStatusMode, ProviderAdapter } from './providers/types.js';
import type { ClientLimits } from './proxy/client-limits.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { Upstream, type Route } from './proxy/upstream.js';
import { LiveLookups } from './scope/live-lookups.js';

/** --traffic-window's default: the contract's 15 minutes. */
export const DEFAULT_TRAFFIC_WINDOW_MS = 15 * 60_000;
import { ensureCa, keyFileIsPrivate, type CertificateAuthority } from './tls/ca.js';
import { exposureOf } from './net/exposure.js';
import { writeTrustBundle } from './tls/bundle.js';
import { LeafCache } from './tls/leaf-cache.js';

/** Everything scopegate runs from: what `scopegate start` parses its arguments into, or what a test builds. */
export interface ScopegateConfig {
  /** The policy in force at start. */
  policy: Policy;
  /** Watched for changes (and SIGHUP) when given; an invalid new file keeps the old policy. */
  policyPath?: string;
  /** The providers scopegate knows; the policy names which of them are guarded. */
  providers: ReadonlyMap<string, ProviderAdapter>;
  listen: { host: string; port: number };
  transparent?: { host: string; port: number };
  admin: { host: string; port: number };
  /** The admin token given at start, and where it came from (for the start-up line); else one is kept in dataDir. */
  adminToken?: GivenAdminToken;
  caDir: string;
  dataDir: string;
  /** Where holds, approvals, placeholders and the audit trail live; default SQLite in dataDir. */
  store?: StoreSpec;
  routes: Map<string, Route>;
  /** An extra CA trusted for upstream TLS, PEM. */
  upstreamCa?: string;
  answerStatus: AnswerStatusMode;
  maxBody: number;
  lookupTimeoutMs: number;
  /** How far back recent traffic looks in the live scope (--traffic-window); 0 turns the lookups off. Default 15 min. */
  trafficWindowMs?: number;
  lookupCacheMs: number;
  holdTimeoutMs: number;
  holdTtlMs: number;
  approvalTtlMs: number;
  webhooks: Webhook[];
  limits: ClientLimits;
  upstreamTimeoutMs: number;
  logger: Logger;
  /** Pre-flight requests one caller may have in flight at once (default 4). */
  preflightConcurrency?: number;
}

export interface Listening {
  proxy: AddressInfo;
  transparent?: AddressInfo;
  admin: AddressInfo;
  /** `http://host:port` of the proxy, for HTTPS_PROXY. */
  proxyUrl: string;
  /** The approval page. */
  pageUrl: string;
  /** What a person should know about where scopegate listens (a proxy or the admin page open to a network). */
  warnings: string[];
}

export interface Scopegate {
  readonly ca: CertificateAuthority;
  /** Whether the CA was made by this start. */
  readonly caCreated: boolean;
  /** The CA plus the system roots, for clients that take one bundle. */
  readonly bundlePath: string;
  readonly adminToken: { token: string; path?: string; source: string };
  readonly holds: Holds;
  /** Placeholders in custody: the agents' stand-in tokens. */
  readonly placeholders: Placeholders;
  /** The policy in force now (reloads replace it). */
  policy(): Policy;
  /** Open every listener; rejects with a RuntimeError naming the address that could not be had. */
  listen(): Promise<Listening>;
  /** Stop accepting, let requests in flight finish for up to `drainMs`, close everything. */
  shutdown(drainMs: number): Promise<{ unfinished: number }>;
}

const formatAddress = (a: AddressInfo): string => (a.family === 'IPv6' ? `[${a.address}]` : a.address);

/**
 * Listeners that other machines can reach, said plainly: an open proxy, or a plain-HTTP sign-in
 * page, is fine on a network only agents (or only operators) reach — a compose network, a CI
 * runner's namespace, behind a TLS-terminating reverse proxy — and a risk anywhere else.
 */
function exposureWarnings(exposure: Record<string, 'loopback' | 'network'>, proxy: AddressInfo, admin: AddressInfo, transparent: AddressInfo | undefined): string[] {
  const at = (a: AddressInfo): string => `${formatAddress(a)}:${a.port}`;
  const out: string[] = [];
  if (exposure['proxy'] === 'network') {
    out.push(`the proxy listens on ${at(proxy)}, reachable from other machines: anyone who can reach it can use it as a proxy (as agent "anonymous" unless the policy declares agents and sets defaults.anonymous: deny). Fine on a network only agents reach (a compose network, a CI runner's namespace); elsewhere use --listen 127.0.0.1:PORT`);
  }
  if (transparent && exposure['transparent'] === 'network') {
    out.push(`the transparent listener on ${at(transparent)} is reachable from other machines: it relays TLS to any host egress allows. Fine where only redirected agent traffic reaches it`);
  }
  if (exposure['admin'] === 'network') {
    out.push(`the admin API and approval page on ${at(admin)} are plain HTTP reachable from other machines: the admin token and the page's session cross the network in clear. Fine behind a TLS-terminating reverse proxy or on a private network of operators; elsewhere use --admin 127.0.0.1:PORT and reach it through an SSH tunnel`);
  }
  return out;
}

function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * scopegate, in process: the CA, the store and holds, the admin API, the gate and the transport
 * in front of it, composed once here. `scopegate start` is this plus argument parsing, a banner
 * and signals; tests that need no separate process build it directly.
 */
export async function createScopegate(config: ScopegateConfig): Promise<Scopegate> {
  const { logger } = config;
  let ca;
  let caCreated;
  try {
    ({ ca, created: caCreated } = ensureCa(config.caDir));
  } catch (err) {
    throw err instanceof CaError ? new RuntimeError(err.message) : err;
  }
  if (!keyFileIsPrivate(ca.keyPath)) logger.warn({ key: ca.keyPath }, 'the CA key file is readable by other users; chmod 600 it');
  const bundlePath = writeTrustBundle(ca);
  let adminToken;
  try {
    adminToken = resolveAdminToken(config.adminToken, config.dataDir);
  } catch (err) {
    throw new RuntimeError(errorMessage(err));
  }
  const storeSpec = config.store ?? defaultStore(config.dataDir);
  let store;
  let key;
  try {
    store = await openStore(storeSpec, logger);
    key = await store.fingerprintKey().catch(async (err: unknown) => {
      await store!.close();
      throw err;
    });
  } catch (err) {
    throw err instanceof StoreError ? new RuntimeError(err.message) : err;
  }

  if (storeSpec.kind === 'postgres' && (adminToken.source === 'file' || adminToken.source === 'created')) {
    // each replica would sign people in with its own token: the page of one refuses the other's
    logger.warn({ store: storeSpec.shown, adminTokenFile: adminToken.path }, 'the admin token is this replica\'s own (from its data dir); replicas on one store should share one: set SCOPEGATE_ADMIN_TOKEN (or --admin-token) to the same value on every replica');
  }
  const placeholders = new Placeholders(store, key);
  // the page URL is known once the admin listener is up; notifications and answers read it then
  let pageUrl = `http://${config.admin.host}:${config.admin.port}/`;
  const notify = notifier({ webhooks: config.webhooks, logger, get pageUrl() { return pageUrl; } } as Parameters<typeof notifier>[0]);
  const holds = new Holds(store, key, { holdTtlMs: config.holdTtlMs, approvalTtlMs: config.approvalTtlMs, logger, onNewHold: notify });
  holds.startSweeper();

  const metrics = new Metrics();
  const leafCache = new LeafCache(ca, { onMint: (ms) => metrics.leafMintSeconds.observe(ms / 1000) });
  metrics.leafCacheSource = () => leafCache.size;
  metrics.storeSource = () => store.health();
  const upstream = new Upstream({ routes: config.routes, headersTimeoutMs: config.upstreamTimeoutMs, connectTimeoutMs: Math.min(10_000, config.upstreamTimeoutMs), ...(config.upstreamCa ? { extraCa: config.upstreamCa } : {}) });
  let current = config.policy;
  const holdHints: HoldHints = { get pageUrl() { return pageUrl; }, approvalTtlText: formatDuration(config.approvalTtlMs) };
  const gate = createGatekeeper({
    upstream,
    logger,
    recorder: new Recorder(logger, metrics, holds),
    policy: () => current,
    providers: config.providers,
    inspections: new InspectionCache(),
    bodyLimits: { maxBytes: config.maxBody, maxDecodedBytes: config.maxBody },
    answerStatus: config.answerStatus,
    holds,
    holdTimeoutMs: config.holdTimeoutMs,
    holdHints,
    lookups: new LiveLookups(upstream, { cacheTtlMs: config.lookupCacheMs }),
    placeholders,
    alert: alerter({ webhooks: config.webhooks, logger, pageUrl }),
    lookupTimeoutMs: config.lookupTimeoutMs,
    trafficWindowMs: config.trafficWindowMs ?? DEFAULT_TRAFFIC_WINDOW_MS,
    clientLimits: config.limits,
    ...(config.preflightConcurrency ? { preflightConcurrency: config.preflightConcurrency } : {}),
  });
  const proxy = new ProxyServer({ gate, leafCache, upstream, logger, metrics, limits: config.limits });
  const reloader = config.policyPath ? watchPolicy(config.policyPath, config.providers, logger, (p) => (current = p)) : null;
  let ready = false;
  const exposure: Record<string, 'loopback' | 'network'> = {
    proxy: exposureOf(config.listen.host),
    ...(config.transparent ? { transparent: exposureOf(config.transparent.host) } : {}),
    admin: exposureOf(config.admin.host),
  };
  const admin = new AdminServer({ token: adminToken.token, metrics, logger, ready: () => ready, holds, protectedNames: () => current.sets.get('protected-environments')?.members ?? new Set(), exposure: () => exposure });

  const app: Scopegate = {
    ca,
    caCreated,
    bundlePath,
    adminToken,
    holds,
    placeholders,
    policy: () => current,
    async listen() {
      let proxyAddr: AddressInfo;
      let transparentAddr: AddressInfo | undefined;
      let adminAddr: AddressInfo;
      try {
        proxyAddr = await proxy.listen(config.listen.host, config.listen.port);
        if (config.transparent) transparentAddr = await proxy.listenTransparent(config.transparent.host, config.transparent.port);
        adminAddr = await admin.listen(config.admin.host, config.admin.port);
      } catch (err) {
        // close what was opened (listeners, the sweeper, the store, the policy watcher), so the
        // process ends with the error instead of staying up on its timers and handles
        await app.shutdown(0).catch(() => undefined);
        const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
        throw new RuntimeError(`cannot listen: ${e.code === 'EADDRINUSE' ? `address ${e.address}:${e.port} is already in use; stop what holds it or choose another with --listen / --admin / --transparent` : e.message}`);
      }
      ready = true;
      pageUrl = `http://${formatAddress(adminAddr)}:${adminAddr.port}/`;
      const warnings = exposureWarnings(exposure, proxyAddr, adminAddr, transparentAddr);
      for (const w of warnings) logger.warn({ exposure }, w);
      return { proxy: proxyAddr, ...(transparentAddr ? { transparent: transparentAddr } : {}), admin: adminAddr, proxyUrl: `http://${formatAddress(proxyAddr)}:${proxyAddr.port}`, pageUrl, warnings };
    },
    async shutdown(drainMs) {
      ready = false;
      reloader?.close();
      const result = await proxy.shutdown(drainMs);
      await admin.close();
      await upstream.destroy();
      await holds.close();
      return result;
    },
  };
  return app;
}
