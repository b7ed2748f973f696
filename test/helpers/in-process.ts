import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { LevelWithSilent } from 'pino';
import { ProxyAgent } from 'undici';
import { createScopegate, type Listening, type Scopegate, type ScopegateConfig } from '../../src/app.js';
import { createLogger } from '../../src/audit/logger.js';
import type { Webhook } from '../../src/holds/notify.js';
import type { Policy } from '../../src/policy/policy.js';
import { DEFAULT_CLIENT_LIMITS } from '../../src/proxy/client-limits.js';
import type { Route } from '../../src/proxy/upstream.js';
import type { ProviderAdapter } from '../../src/providers/types.js';

/** scopegate built in process with createScopegate, listening on loopback, and a client through it. */
export interface InProcess {
  app: Scopegate;
  at: Listening;
  /** An undici ProxyAgent through the app that trusts its CA. */
  agent: ProxyAgent;
  /** Every log line the app wrote, as text. */
  lines: string[];
  work: string;
  stop(): Promise<void>;
}

export interface InProcessOptions {
  policy: Policy;
  providers: ReadonlyMap<string, ProviderAdapter>;
  routes: Map<string, Route>;
  upstreamCa: string;
  webhooks?: Webhook[];
  logLevel?: LevelWithSilent;
  /** Any other field of the app's config, for the test that needs it. */
  config?: Partial<ScopegateConfig>;
}

/**
 * For tests where a spawned process adds nothing: the real app (gate, transport, store) in this
 * process, every listener on 127.0.0.1, a temp CA and data dir removed by stop().
 */
export async function startInProcess(o: InProcessOptions): Promise<InProcess> {
  const work = mkdtempSync(join(tmpdir(), 'sg-inproc-'));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const app = await createScopegate({
    policy: o.policy,
    providers: o.providers,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    caDir: join(work, 'ca'),
    dataDir: join(work, 'data'),
    routes: o.routes,
    upstreamCa: o.upstreamCa,
    answerStatus: 'graphql',
    maxBody: 1024 * 1024,
    lookupTimeoutMs: 5000,
    lookupCacheMs: 0,
    holdTimeoutMs: 0,
    holdTtlMs: 3_600_000,
    approvalTtlMs: 600_000,
    webhooks: o.webhooks ?? [],
    limits: DEFAULT_CLIENT_LIMITS,
    upstreamTimeoutMs: 10_000,
    logger: createLogger(o.logLevel ?? 'debug', sink, [...o.providers.values()].flatMap((p) => p.secretHeaders)),
    ...o.config,
  });
  const at = await app.listen();
  const agent = new ProxyAgent({ uri: at.proxyUrl, requestTls: { ca: readFileSync(app.ca.certPath, 'utf8') } });
  return {
    app,
    at,
    agent,
    lines,
    work,
    async stop() {
      await agent.close();
      await app.shutdown(1000);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
