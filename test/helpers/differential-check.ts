/**
 * The comparison at the heart of the differential harness: send one raw request to scopegate's
 * reader and to every real server, and say where a server executed something scopegate did not
 * read. scopegate's side is src/inspect/read-request.ts behind a Node server with the proxy's own
 * client limits and framing checks, exactly as a guarded request meets it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { readRequest, type ReadResult } from '../../src/inspect/read-request.js';
import { DEFAULT_BODY_LIMITS } from '../../src/inspect/body.js';
import { DEFAULT_CLIENT_LIMITS, framingProblem, serverOptions } from '../../src/proxy/client-limits.js';
import { createRailwayAdapter } from '../../src/providers/railway/index.js';
import type { Executed, RunningServer } from './graphql-servers.js';
import { sendRaw, showBytes } from './raw-request.js';

/**
 * What scopegate made of a request; `parser` when Node's HTTP parser refused it before any handler
 * ran; `threw` when the reader crashed (a bug of its own, counted apart: nothing was compared).
 */
export type Reading = ReadResult | { ok: false; status: 400; reason: string; parser: true } | { ok: false; status: 500; reason: string; threw: true };

export interface ReaderServer {
  port: number;
  stop(): Promise<void>;
  /** The reading for the connection from this local port, once the answer has been sent. */
  take(localPort: number): Reading | undefined;
}

export async function startReader(): Promise<ReaderServer> {
  const results = new Map<number, Reading>();
  // one adapter, so one persisted-query store for the whole run, as the proxy keeps one: hashes learnt earlier count later
  const railway = createRailwayAdapter();
  const server: Server = createServer(serverOptions(DEFAULT_CLIENT_LIMITS), (req, res) => {
    const port = req.socket.remotePort ?? 0;
    const framing = framingProblem(req, DEFAULT_CLIENT_LIMITS);
    if (framing) {
      results.set(port, { ok: false, status: framing.status, reason: framing.reason });
      res.writeHead(framing.status).end();
      return;
    }
    readRequest(railway, req, { limits: DEFAULT_BODY_LIMITS, timeoutMs: 5000 }).then(
      (r) => {
        results.set(port, r);
        res.writeHead(r.ok ? 200 : r.status).end();
      },
      (e: unknown) => {
        results.set(port, { ok: false, status: 500, reason: `readRequest threw: ${e instanceof Error ? e.message : String(e)}`, threw: true });
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    take(localPort) {
      const r = results.get(localPort);
      results.delete(localPort);
      return r;
    },
    stop() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Comparison {
  reading: Reading;
  /** What each server executed for this request. */
  executions: Map<string, Executed[]>;
  /** Per server, the root fields it executed that scopegate did not read. */
  unread: Map<string, Executed[]>;
}

// a server has run its resolvers long before this; only streamed answers (a subscription over SSE) stay open that long
const SEND_TIMEOUT_MS = 1500;

/** Send the bytes to scopegate's reader and to every server (all at once: they are independent) and compare. */
export async function compare(bytes: Buffer, reader: ReaderServer, servers: readonly RunningServer[]): Promise<Comparison> {
  for (const s of servers) s.reset();
  const [mine] = await Promise.all([sendRaw(reader.port, bytes, SEND_TIMEOUT_MS), ...servers.map((s) => sendRaw(s.port, bytes, SEND_TIMEOUT_MS))]);
  const reading: Reading = reader.take(mine.localPort) ?? { ok: false, status: 400, reason: `refused before the reader (answer: ${mine.status || 'none'})`, parser: true };
  const executions = new Map(servers.map((s) => [s.name, s.executed()]));
  const unread = new Map<string, Executed[]>();
  for (const [name, executed] of executions) {
    // a refusal forwards nothing: whatever a server would have made of it is moot
    const missing = reading.ok ? executed.filter((e) => !reading.operations.some((op) => op.type === e.type && op.name === e.name && isDeepStrictEqual(JSON.parse(JSON.stringify(op.args)), e.args))) : [];
    if (missing.length) unread.set(name, missing);
  }
  return { reading, executions, unread };
}

/** A disagreement written out: the raw request, scopegate's reading, each server's execution. */
export function describe(bytes: Buffer, c: Comparison): string {
  const reading = c.reading.ok ? c.reading.operations.map((o) => `${o.type} ${o.name} ${JSON.stringify(o.args)}`).join('; ') || '(no operations)' : `refused ${c.reading.status}: ${c.reading.reason}`;
  const servers = [...c.executions].map(([name, ex]) => `  ${name}: ${ex.map((e) => `${e.type} ${e.name} ${JSON.stringify(e.args)}`).join('; ') || '(nothing)'}${c.unread.has(name) ? '   <-- not read by scopegate' : ''}`);
  return ['request:', showBytes(bytes), '', `scopegate read: ${reading}`, 'servers executed:', ...servers].join('\n');
}

/** One line: what scopegate read and what the disagreeing servers executed. */
export function summarise(c: Comparison): string {
  const reading = c.reading.ok ? c.reading.operations.map((o) => `${o.type} ${o.name}${o.type === 'http' ? '' : JSON.stringify(o.args)}`).join(', ') || 'nothing' : 'refused';
  return `scopegate read [${reading}]; ${[...c.unread].map(([n, ex]) => `${n} executed [${ex.map((e) => `${e.type} ${e.name}${JSON.stringify(e.args)}`).join(', ')}]`).join('; ')}`;
}
