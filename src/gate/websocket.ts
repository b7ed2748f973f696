import { errorMessage } from '../errors.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { newDecisionId } from '../audit/decision-id.js';
import { redactPath } from '../audit/redact.js';
import { performance } from 'node:perf_hooks';
import { graphqlError } from '../graphql/answer.js';
import { answerPlainOnSocket } from '../proxy/answers.js';
import type { ConnectionContext } from '../proxy/context.js';
import { formatAuthority } from '../net/host.js';
import type { Hold } from '../holds/store-types.js';
import type { Refusal } from '../providers/types.js';
import { callIdentity } from './call-identity.js';
import { decisionRefusal, type Decision } from './decision.js';
import { forgetAfterWrite, reportRealToken, type GateDeps } from './gate.js';
import { decideCall } from './decide.js';
import { custodyOf, type Custody } from './custody.js';
import { secretEgress } from './secret-egress.js';
import { secretScanner } from '../custody/secret-scan.js';

/**
 * GraphQL over WebSocket on guarded hosts. Two subprotocols exist: `graphql-transport-ws` (the
 * graphql-ws library, what current GraphQL clients and CLIs speak) and `graphql-ws` (the older
 * subscriptions-transport-ws). Every client message that carries a document is judged like an
 * HTTP call before it reaches the upstream; one that cannot be judged closes the socket.
 */
const SUBPROTOCOLS = new Set(['graphql-transport-ws', 'graphql-ws']);
/** Message types that carry a document, per subprotocol. */
const DOCUMENT_TYPES: Record<string, string> = { 'graphql-transport-ws': 'subscribe', 'graphql-ws': 'start' };
/** Message types that carry none and pass as they are. */
const CONTROL_TYPES: Record<string, ReadonlySet<string>> = {
  'graphql-transport-ws': new Set(['connection_init', 'ping', 'pong', 'complete']),
  'graphql-ws': new Set(['connection_init', 'stop', 'connection_terminate', 'ka']),
};
const MAX_MESSAGE = 1024 * 1024;
/** Close codes: 4400 the message cannot be judged (as graphql-ws uses 4400 for bad requests). */
const CLOSE_UNJUDGEABLE = 4400;


/** Headers that describe the client's handshake, not the call: the upstream handshake makes its own. */
const HANDSHAKE_HEADERS = new Set([
  'host', 'connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions',
  'sec-websocket-protocol', 'proxy-authorization', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'content-length',
]);

function refuse(socket: Duplex, status: number, reason: string, decisionId: string, deps: GateDeps, ctx: ConnectionContext, req: IncomingMessage): void {
  deps.logger.info({ decisionId, connectionId: ctx.connectionId, agent: ctx.agent, host: ctx.target.host, path: redactPath(req.url ?? ''), status, decision: 'deny', rule: 'upgrade', reason }, 'upgrade');
  answerPlainOnSocket(socket, status, decisionId, reason);
}

export function handleUpgrade(deps: GateDeps, ctx: ConnectionContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const decisionId = newDecisionId();
  socket.on('error', () => socket.destroy());
  upgrade(deps, ctx, req, socket, head, decisionId).catch((err: unknown) => {
    // a step that needs the store (a placeholder check) failed: refused, never relayed unjudged
    deps.logger.error({ decisionId, err: { message: errorMessage(err) } }, 'websocket upgrade failed');
    if (!socket.destroyed) refuse(socket, 503, `scopegate could not judge this upgrade (${errorMessage(err).slice(0, 160)}); nothing was forwarded`, decisionId, deps, ctx, req);
  });
}

async function upgrade(deps: GateDeps, ctx: ConnectionContext, req: IncomingMessage, socket: Duplex, head: Buffer, decisionId: string): Promise<void> {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (upgrade !== 'websocket') {
    refuse(socket, 400, `upgrade to "${upgrade.slice(0, 40)}" is refused on guarded host ${ctx.target.host}: scopegate judges HTTP/1.1 and GraphQL over WebSocket only`, decisionId, deps, ctx, req);
    return;
  }
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const protocols = offered.filter((p) => SUBPROTOCOLS.has(p));
  if (protocols.length === 0) {
    refuse(socket, 400, `WebSocket subprotocol "${offered.join(', ').slice(0, 60) || 'none'}" cannot be judged; scopegate reads graphql-transport-ws and graphql-ws`, decisionId, deps, ctx, req);
    return;
  }
  const adapter = ctx.provider ? deps.providers.get(ctx.provider) : undefined;
  if (!adapter?.websocket) {
    refuse(socket, 400, `provider ${ctx.provider ?? 'none'} is not spoken to over WebSocket; scopegate refuses the upgrade`, decisionId, deps, ctx, req);
    return;
  }

  // custody, as over HTTP: the handshake's placeholder is the caller and is swapped for the real token
  const custody = await custodyOf(deps.policy(), adapter, deps.placeholders, req.headers, ctx.agent);
  if (custody.kind === 'refuse' || custody.kind === 'report') {
    if (custody.tokenHash) reportRealToken(deps, decisionId, ctx, custody.reason, custody.tokenHash);
    if (custody.kind === 'refuse') {
      refuse(socket, custody.status, custody.reason, decisionId, deps, ctx, req);
      return;
    }
  }
  // a custody secret in the handshake never leaves, as over HTTP
  const leak = secretEgress(deps, ctx, req, decisionId, adapter, null, custody.kind === 'report');
  if (leak) {
    refuse(socket, 403, leak.reason, decisionId, deps, ctx, req);
    return;
  }
  const drop = custody.kind === 'swap' ? custody.drop : adapter.strippedHeaders;
  const caller = custody.kind === 'swap' ? { ...ctx, agent: custody.agent } : ctx;

  // open the upstream first: the client's handshake completes with the subprotocol it agreed
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (HANDSHAKE_HEADERS.has(name) || drop.has(name)) continue;
    headers[name] = headers[name] ? `${headers[name]}, ${req.rawHeaders[i + 1]}` : req.rawHeaders[i + 1]!;
  }
  if (custody.kind === 'swap') headers[custody.add[0]!] = custody.add[1]!;
  const authority = formatAuthority(ctx.target, ctx.scheme);
  const url = `${ctx.scheme === 'https' ? 'wss' : 'ws'}://${authority}${req.url ?? '/'}`;
  const dest = deps.upstream.tunnelTarget(ctx.target.host, ctx.target.port);
  const upstream = new WebSocket(url, protocols, {
    headers,
    handshakeTimeout: 10_000,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    createConnection: ((opts: object) =>
      ctx.scheme === 'https'
        ? tlsConnect({ ...opts, host: dest.host, port: dest.port, servername: ctx.target.host, ca: deps.upstream.ca, ALPNProtocols: ['http/1.1'] })
        : netConnect({ host: dest.host, port: dest.port })) as never,
  });
  let clientGone = false;
  socket.once('close', () => {
    clientGone = true;
    upstream.terminate();
  });
  upstream.once('unexpected-response', (_r, res) => {
    refuse(socket, 502, `the upstream refused the WebSocket handshake with HTTP ${res.statusCode}`, decisionId, deps, ctx, req);
    upstream.terminate();
  });
  upstream.once('error', (err: NodeJS.ErrnoException) => {
    if (!clientGone && upstream.readyState !== WebSocket.OPEN) refuse(socket, 502, `cannot open the upstream WebSocket: ${err.code ?? err.message}`, decisionId, deps, ctx, req);
  });
  upstream.once('open', () => {
    if (clientGone) {
      upstream.terminate();
      return;
    }
    const protocol = upstream.protocol;
    // the client gets the subprotocol the upstream chose, so both ends speak the same one
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE, perMessageDeflate: false, handleProtocols: () => protocol || false });
    wss.handleUpgrade(req, socket, head, (client) => relay(deps, caller, req, client, upstream, protocol, custody));
  });
}

function relay(deps: GateDeps, ctx: ConnectionContext, req: IncomingMessage, client: WebSocket, upstream: WebSocket, protocol: string, custody: Custody): void {
  // the headers as the provider sees them: live lookups use the real token, not the placeholder
  const headers = custody.kind === 'swap' ? custody.headers : req.headers;
  const adapter = deps.providers.get(ctx.provider!)!;
  const reading = adapter.websocket!;
  deps.logger.info({ connectionId: ctx.connectionId, agent: ctx.agent, host: ctx.target.host, path: redactPath(req.url ?? ''), protocol }, 'websocket open');
  const close = (ws: WebSocket, code: number, reason: string): void => {
    // a close reason has at most 123 bytes on the wire
    if (ws.readyState === WebSocket.OPEN) ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
  };
  upstream.on('message', (data: RawData, isBinary: boolean) => {
    if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
  });
  upstream.on('close', (code, reason) => close(client, code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1011, reason.toString()));
  client.on('close', (code, reason) => close(upstream, code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000, reason.toString()));
  client.on('error', () => upstream.terminate());
  upstream.on('error', () => client.terminate());

  // judge messages in order: one at a time, so a later message never overtakes an earlier one
  let queue: Promise<void> = Promise.resolve();
  client.on('message', (data: RawData, isBinary: boolean) => {
    queue = queue.then(() => judgeMessage(data, isBinary)).catch((err: Error) => {
      deps.logger.error({ connectionId: ctx.connectionId, err: { message: err.message } }, 'websocket message judging failed');
      close(client, 1011, 'scopegate internal error');
    });
  });

  const judgeMessage = async (data: RawData, isBinary: boolean): Promise<void> => {
    const started = performance.now();
    const decisionId = newDecisionId();
    const record = (decision: Decision): void =>
      deps.recorder.record({ decisionId, ctx, channel: 'websocket', method: 'WS', path: req.url ?? '', status: 0, bytesIn: undefined, bytesOut: 0, durationMs: performance.now() - started, decision, error: undefined });
    const unjudgeable = (reason: string): void => {
      record({ kind: 'deny', stage: 'read', rule: 'unjudgeable', reason });
      close(client, CLOSE_UNJUDGEABLE, `scopegate: ${reason} (${decisionId})`);
      close(upstream, 1000, 'client closed');
    };
    if (isBinary) return unjudgeable('binary frames cannot be judged');
    // every message, control ones included (connection_init may carry a token), is looked at for a custody secret
    const scanner = secretScanner(deps.policy());
    const hit = scanner.empty ? null : scanner.find(data.toString('latin1'), 'message');
    if (hit) {
      const reason = `a WebSocket message carries the secret of credential ${hit.credential} (${hit.encoding}): scopegate holds that token and adds it itself; nothing was forwarded`;
      deps.holds?.audit({ at: Date.now(), event: 'secret-egress', decisionId, holdId: null, agent: ctx.agent, host: ctx.target.host, operation: null, actor: ctx.agent, reason, detail: { credential: hit.credential, where: 'websocket message', encoding: hit.encoding } }, true);
      deps.alert?.({ event: 'secret-egress', decisionId, agent: ctx.agent, host: ctx.target.host, reason, detail: { credential: hit.credential, where: 'websocket message', encoding: hit.encoding } });
      record({ kind: 'deny', stage: 'read', rule: 'secret-egress', reason });
      close(client, CLOSE_UNJUDGEABLE, `scopegate: a custody secret in a message (${decisionId})`);
      close(upstream, 1000, 'client closed');
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return unjudgeable('a message that is not JSON');
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return unjudgeable('a message that is not a JSON object');
    const m = msg as Record<string, unknown>;
    const type = m['type'];
    if (typeof type !== 'string') return unjudgeable('a message without a type');
    if (CONTROL_TYPES[protocol]?.has(type)) {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: false });
      return;
    }
    if (type !== DOCUMENT_TYPES[protocol]) return unjudgeable(`message type "${type.slice(0, 40)}" is not part of ${protocol}`);
    const payload = m['payload'];
    if (typeof payload !== 'object' || payload === null) return unjudgeable('a subscribe message without a payload');
    const p = payload as Record<string, unknown>;
    if (typeof p['query'] !== 'string') return unjudgeable('a subscribe message without query text (persisted queries are not accepted over WebSocket)');
    const variables = p['variables'];
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return unjudgeable('variables that are not an object');
    const inspection = reading.readPayload(p['query'], (variables ?? undefined) as Record<string, unknown> | undefined);
    if (!inspection.ok) return unjudgeable(inspection.reason);
    const operations = inspection.operations;
    let decision: Decision = await decideCall(deps, adapter, ctx, custody, headers, operations);
    let hold: Hold | undefined;
    if (decision.kind === 'hold' && deps.holds) {
      // no waiting on a socket: the hold is made, the message answered; the identical retry passes once approved
      const call = callIdentity(adapter, ctx.agent, ctx.target.host, req.url ?? '/', headers, operations, (decision.judged ?? []).map((j) => j.scope), (decision.judged ?? []).map((j) => ({ verdict: j.verdict, operationClass: j.operation.class })));
      const fp = deps.holds.fingerprint(call);
      let approved: Hold | null = null;
      let lookedUp = true;
      try {
        approved = await deps.holds.consume(fp.call, decisionId);
      } catch (err) {
        lookedUp = false;
        const reason = `an approval of this call could not be looked up: the hold store is unavailable (${errorMessage(err).slice(0, 160)}); nothing was forwarded`;
        decision = { ...decision, kind: 'error', stage: 'hold', rule: 'store', reason };
      }
      if (approved) {
        decision = { ...decision, kind: 'allow', stage: 'hold', approval: { holdId: approved.id, by: approved.decidedBy } };
      } else if (lookedUp) {
        try {
          ({ hold } = await deps.holds.holdOrJoin(call, decisionId, decision.rule, decision.reason ?? '', { operation: decision.operation!, scope: decision.scope! }));
          decision = { ...decision, stage: 'hold', holdId: hold.id };
        } catch (err) {
          // as over HTTP: a hold nobody can find again must not exist; the message is refused, not forwarded
          const reason = `the hold could not be recorded (${errorMessage(err).slice(0, 160)}); nothing was forwarded`;
          deps.logger.error({ decisionId, err: { message: errorMessage(err) } }, 'hold store write failed');
          decision = { ...decision, kind: 'error', stage: 'hold', rule: 'store', reason };
        }
      }
    }
    if (decision.kind === 'allow' && deps.holds && !(decision.judged ?? []).every((j) => j.operation.class === 'read' || j.operation.class === 'benign') && !deps.holds.storeUp()) {
      // an allowed change must be audited: with the store unreachable it is not let through
      decision = { ...decision, kind: 'error', stage: 'decide', rule: 'store', reason: `an allowed change could not be audited: the hold store is unavailable (${deps.holds.store.health().reason ?? 'it cannot be reached'}); nothing was forwarded` };
    }
    record(decision);
    if (decision.kind === 'allow') {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: false });
      forgetAfterWrite(deps, adapter, operations, headers);
      return;
    }
    // refused: answer this subscription with a GraphQL error, keep the socket for the others
    const refusal: Refusal =
      decision.kind === 'error'
        ? { code: 'SCOPEGATE_UNJUDGEABLE', message: `scopegate could not complete its decision on ${decision.operation?.name ?? 'this call'}: ${decision.reason ?? ''}`, details: { reason: decision.reason, rule: decision.rule }, decisionId }
        : decisionRefusal(decision, decisionId, hold, deps.holdHints);
    const error = graphqlError(refusal);
    const id = m['id'];
    const reply = protocol === 'graphql-transport-ws' ? { id, type: 'error', payload: [error] } : { id, type: 'error', payload: error };
    if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(reply));
  };
}
