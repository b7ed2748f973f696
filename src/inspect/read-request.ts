import type { IncomingMessage } from 'node:http';
import type { ProviderAdapter } from '../providers/types.js';
import { decodeContentEncoding, isBodyProblem, readBody, type BodyLimits } from './body.js';
import { inspectRequest } from './inspect-request.js';
import type { InspectionCache } from './inspection-cache.js';
import type { Operation } from './operation.js';
import { headerProblem } from './request-headers.js';

export interface ReadOptions {
  limits: BodyLimits;
  /** The whole body must have arrived by then. */
  timeoutMs: number;
  inspections?: InspectionCache;
}

export type ReadResult =
  /**
   * `raw` is the body exactly as it came (still content-encoded): what is judged is what is
   * forwarded; `decoded` is it with its content-encoding undone (what was inspected).
   */
  | { ok: true; raw: Buffer; decoded: Buffer; operations: Operation[]; transport: string }
  | { ok: false; status: number; reason: string };

/**
 * Read a request on a guarded host the way its upstream will: the headers that decide how the
 * body is read, the body whole and decoded, and every operation it carries. Anything two servers
 * could read differently is refused here, never guessed. The request pipeline and the
 * differential harness against real GraphQL servers both read through this one function.
 */
export async function readRequest(adapter: ProviderAdapter, req: IncomingMessage, opts: ReadOptions): Promise<ReadResult> {
  const headers = headerProblem(req.rawHeaders);
  if (headers) return { ok: false, status: 400, reason: headers };
  const raw = await readBody(req, opts.limits, opts.timeoutMs);
  if (isBodyProblem(raw)) return { ok: false, status: raw.status, reason: raw.reason };
  const decoded = decodeContentEncoding(raw, req.headers['content-encoding'], opts.limits);
  if (isBodyProblem(decoded)) return { ok: false, status: decoded.status, reason: decoded.reason };
  const inspection = await inspectRequest(adapter, { method: req.method ?? 'GET', url: req.url ?? '/', contentType: req.headers['content-type'], body: decoded }, opts.inspections);
  if (!inspection.ok) return { ok: false, status: inspection.status, reason: inspection.reason };
  return { ok: true, raw, decoded, operations: inspection.operations, transport: inspection.transport };
}
