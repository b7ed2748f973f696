import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Header names whose values are credentials on any API. They are never logged; the request line
 * carries no headers at all, and these paths are a second line of defence for any object that
 * does. Each provider adds its own (its adapter's `secretHeaders`).
 */
export const SECRET_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

// Explicit paths only: wildcard paths made redaction a fifth of the per-request cost, and no log
// line carries headers anyway (this is the second line of defence, for objects that ever would).
function redactPaths(extra: readonly string[]): string[] {
  return [...new Set([...SECRET_HEADERS, ...extra.map((h) => h.toLowerCase())])].flatMap((h) => [`headers["${h}"]`, `req.headers["${h}"]`, `res.headers["${h}"]`]);
}

/**
 * pino's isoTime, made once per millisecond: under load many lines share one, and formatting the
 * date showed in the profile of a kept-alive read.
 */
let lastMs = -1;
let lastStamp = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastStamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastStamp;
}

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Log lines are written asynchronously (sonic-boom) so a request never waits for the terminal or a
 * pipe, and in batches: one write(2) per 8 KiB or per 100 ms, whichever comes first, because one
 * write per line was the largest cost scopegate added to a kept-alive read (bench/RESULTS.md).
 * pino writes the batch out synchronously on any exit, a crash included. A SIGKILL can lose the
 * last 100 ms of lines; what must survive any crash (holds, decisions on them, every call that is
 * not a plain read) is in the store, fsynced, not only in this log.
 */
export function createLogger(
  level: LevelWithSilent,
  destination: NodeJS.WritableStream | pino.DestinationStream = pino.destination({ dest: 1, sync: false, minLength: 8192, periodicFlush: 100 }),
  /** The providers' own credential headers. */
  secretHeaders: readonly string[] = [],
): Logger {
  return pino(
    {
      level,
      base: { svc: 'scopegate' },
      timestamp: isoTime,
      redact: { paths: redactPaths(secretHeaders), censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
