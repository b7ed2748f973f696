import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { newDecisionId } from '../audit/decision-id.js';
import { guardedBy, routeHost, type Policy } from '../policy/policy.js';
import type { ConnectionContext } from '../proxy/context.js';
import type { Admission, ConnectionRecord, Door, Gatekeeper, TunnelOrigin } from '../proxy/gatekeeper.js';
import type { Authority } from '../net/host.js';
import { identify } from './identify.js';
import { firstBytesVerdict } from './tunnel-verdict.js';
import type { FirstBytesVerdict } from '../proxy/tunnel.js';
import { handleRequest, type GateDeps } from './gate.js';
import { handleUpgrade } from './websocket.js';
import { createOwnApi } from '../preflight/http.js';
import { isOwnHost } from '../preflight/own-host.js';

/**
 * The gate as the transport sees it: the one admission path of the three front doors (who is
 * calling, what the host gets), what a tunnel's first bytes may carry, the request and upgrade
 * handlers, and the one recorder for connection-level decisions.
 */
export function createGatekeeper(deps: GateDeps): Gatekeeper {
  const policy = (): Policy => deps.policy();
  const own = createOwnApi(deps, deps.preflightConcurrency);
  return {
    admit(door: Door, target: Authority, proxyAuthorization: string | undefined, client: string | null, request?: { method: string; path: string }): Admission {
      const decisionId = newDecisionId();
      const p = policy();
      const refuse = (status: 403 | 407, rule: string, reason: string, agent: string | null): Admission => {
        // a refused absolute-form request is a request line; a refused connection, a connect line
        if (request) {
          deps.recorder.record({
            decisionId,
            ctx: { connectionId: '', clientAddress: client ?? '', via: door, target, scheme: 'http', provider: null, agent: agent ?? 'anonymous' },
            channel: 'http',
            method: request.method,
            path: request.path,
            status,
            bytesIn: undefined,
            bytesOut: 0,
            durationMs: 0,
            decision: { kind: 'deny', stage: 'admit', rule, reason },
            error: undefined,
          });
        } else {
          deps.recorder.connection({ msg: 'connect', decisionId, via: door, agent, client, host: target.host, port: target.port, status, decision: 'deny', rule, reason, ...(rule === 'egress' ? { result: 'refused' as const } : {}) });
        }
        return { kind: 'refuse', status, reason, decisionId };
      };
      const who = identify(p, proxyAuthorization);
      if (!who.ok) return refuse(407, 'identity', who.reason, null);
      // scopegate's own API: before egress, which governs what leaves, and this does not
      if (door === 'direct' || isOwnHost(target.host)) return { kind: 'own', agent: who.agent, decisionId };
      const route = routeHost(p, target.host);
      if (route.kind === 'refuse') return refuse(403, 'egress', route.reason, who.agent);
      if (route.kind === 'intercept') return { kind: 'intercept', provider: route.provider.name, agent: who.agent, decisionId };
      return { kind: 'tunnel', agent: who.agent, decisionId };
    },
    firstBytes: (origin: TunnelOrigin, buf: Buffer): FirstBytesVerdict => firstBytesVerdict(policy(), origin, buf),
    guarding: (host: string) => guardedBy(policy(), host)?.name ?? null,
    handleRequest: (ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, finished: () => void) => void handleRequest(deps, ctx, req, res, finished),
    handleOwn: (ctx: ConnectionContext, req: IncomingMessage, res: ServerResponse, finished: () => void) => own(ctx, req, res, finished),
    handleUpgrade: (ctx: ConnectionContext, req: IncomingMessage, socket: Duplex, head: Buffer) => handleUpgrade(deps, ctx, req, socket, head),
    recordConnection: (r: ConnectionRecord) => deps.recorder.connection(r),
  };
}
