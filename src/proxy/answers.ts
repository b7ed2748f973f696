import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export const DECISION_HEADER = 'X-Scopegate-Decision';

/**
 * A plain-text answer scopegate makes itself (refused egress, upstream failure, bad request),
 * carrying the decision id so the agent's error, the log line and the audit trail meet.
 */
export function answerPlain(res: ServerResponse, status: number, decisionId: string, reason: string): void {
  if (res.headersSent) {
    // the upstream's answer already started: the only honest thing left is to cut the connection
    res.destroy();
    return;
  }
  const body = `scopegate: ${reason}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    [DECISION_HEADER]: decisionId,
  });
  res.end(body);
}

/** 407 on a raw CONNECT socket, asking for the agent's credentials. */
export function answerProxyAuthRequired(socket: Duplex, decisionId: string, reason: string): void {
  answerPlainOnSocket(socket, 407, decisionId, reason, ['Proxy-Authenticate: Basic realm="scopegate"']);
}

/** The same answer written on a raw socket: a refused CONNECT has no ServerResponse. */
export function answerPlainOnSocket(socket: Duplex, status: number, decisionId: string | null, reason: string, extraHeaders: string[] = []): void {
  if (socket.destroyed || !socket.writable) return;
  const body = `scopegate: ${reason}\n`;
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(decisionId ? [`${DECISION_HEADER}: ${decisionId}`] : []),
    ...extraHeaders,
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * A refusal already in the provider's error shape (the adapter's `answer`), written with the
 * decision id in a header so the agent's error, the log line and the audit trail meet.
 */
export function answerRefusal(res: ServerResponse, answer: { status: number; contentType: string; body: string }, decisionId: string): number {
  if (res.headersSent) {
    res.destroy();
    return answer.status;
  }
  res.writeHead(answer.status, {
    'content-type': answer.contentType,
    'content-length': Buffer.byteLength(answer.body),
    'cache-control': 'no-store',
    [DECISION_HEADER]: decisionId,
  });
  res.end(answer.body);
  return answer.status;
}
