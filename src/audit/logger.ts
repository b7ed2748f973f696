import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Header names whose values are credentials. They are never logged; the request line carries no
 * headers at all, and these paths are a second line of defence for any object that does.
 */
export const SECRET_HEADERS = [
  'authorization',
  'proxy-authorization',
  'project-access-token',
  'team-access-token',
  'cookie',
  'set-cookie',
  'x-api-key',
] as const;

const redactPaths = SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `*.*.headers["${h}"]`]);

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(level: LevelWithSilent, destination: NodeJS.WritableStream | pino.DestinationStream = pino.destination(1)): Logger {
  return pino(
    {
      level,
      base: { svc: 'scopegate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
