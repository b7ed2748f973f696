import { PROVIDERS } from '../../src/providers/registry.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { judgeLive, type GateDeps } from '../../src/gate/gate.js';
import { inspectRequest } from '../../src/inspect/inspect-request.js';
import { PersistedQueries } from '../../src/graphql/persisted-queries.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { createRailwayAdapter, railway } from '../../src/providers/railway/index.js';
import type { ProviderAdapter, ResolveRequest } from '../../src/providers/types.js';
import type { ConnectionContext } from '../../src/proxy/context.js';
import type { Operation } from '../../src/inspect/operation.js';
import type { Scope } from '../../src/scope/scope.js';
import { ROOT } from '../helpers/proxy-process.js';

// The deadline that bounds a request's live lookups: it must end the lookups that overrun it,
// and must not outlive the judging of a request that finished in time (a timer per judged call
// kept alive for the whole lookup timeout adds up on a busy proxy).

const TIMEOUT_MS = 5_000;
const policy = parsePolicy(readFileSync(join(ROOT, 'policies', 'default.yaml'), 'utf8'), 'default.yaml', PROVIDERS);
const deps = { lookupTimeoutMs: TIMEOUT_MS, lookups: {} } as unknown as GateDeps;
const ctx: ConnectionContext = {
  connectionId: 'c1',
  clientAddress: '127.0.0.1',
  via: 'connect',
  target: { host: 'backboard.railway.com', port: 443 },
  scheme: 'https',
  provider: 'railway',
  agent: 'anonymous',
};

async function operations(query: string): Promise<Operation[]> {
  const inspection = await inspectRequest(createRailwayAdapter(new PersistedQueries()), { method: 'POST', url: '/graphql/v2', contentType: 'application/json', body: Buffer.from(JSON.stringify({ query })) });
  if (!inspection.ok) throw new Error(inspection.reason);
  return inspection.operations;
}

/** The Railway adapter with its live resolution replaced by `resolve`: the deadline is what is tested. */
const adapterWith = (resolve: (op: Operation, req: ResolveRequest) => Promise<Scope>): ProviderAdapter => ({ ...railway, resolve });

const shared: Scope = {
  status: 'resolved',
  resource: { type: 'volume', id: 'vol-1', name: 'pgdata' },
  project: { id: 'p1', name: 'P' },
  environments: [{ id: 'e1', name: 'production' }, { id: 'e2', name: 'staging' }],
  shared: true,
  liveDeployments: [],
};

afterEach(() => {
  vi.useRealTimers();
});

describe('judgeLive: one deadline for a request’s live lookups', () => {
  it('leaves no timer behind when the lookups answered in time (one per judged call otherwise)', async () => {
    vi.useFakeTimers();
    const ops = await operations('mutation { volumeDelete(volumeId: "vol-1") }');
    let signal: AbortSignal | undefined;
    const d = await judgeLive(deps, policy, adapterWith(async (_op, req) => ((signal = req.signal), shared)), ctx, { authorization: 'Bearer t' }, ops);
    expect(signal, 'the destructive call was looked up').toBeDefined();
    expect(d.scope?.status).toBe('resolved');
    expect(vi.getTimerCount()).toBe(0);
    expect(signal!.aborted).toBe(false);
  });

  it('a read looks nothing up and starts no deadline', async () => {
    vi.useFakeTimers();
    const ops = await operations('query { me { id } }');
    let asked = 0;
    const d = await judgeLive(deps, policy, adapterWith(async () => (asked++, shared)), ctx, {}, ops);
    expect(d.kind).toBe('allow');
    expect(asked).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a lookup that overruns the deadline is aborted and its scope is unresolved, saying why', async () => {
    vi.useFakeTimers();
    const ops = await operations('mutation { volumeDelete(volumeId: "vol-1") }');
    let signal: AbortSignal | undefined;
    const judging = judgeLive(deps, policy, adapterWith((_op, req) => ((signal = req.signal), new Promise<Scope>(() => {}))), ctx, { authorization: 'Bearer t' }, ops);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(signal!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const d = await judging;
    expect(signal!.aborted).toBe(true);
    expect(d.scope?.status).toBe('unresolved');
    expect(d.reason).toContain(`did not finish within ${TIMEOUT_MS} ms`);
    expect(d.kind).not.toBe('allow');
    expect(vi.getTimerCount()).toBe(0);
  });
});
