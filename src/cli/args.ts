import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage, UsageError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** node:util parseArgs, strict, with its errors turned into UsageError that name the verb. */
export function parse(verb: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (err) {
    const msg = errorMessage(err).replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`scopegate ${verb}: ${msg}\nSee: scopegate ${verb} --help`);
  }
}

export function parseHostPort(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${flag} "${value}" must be HOST:PORT (for example 127.0.0.1:8080; port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port };
}

/** Durations as the flags take them: 90s, 15m, 24h, 7d, or plain seconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new UsageError(`${flag} "${value}" must be a duration such as 30s, 15m, 24h or 7d`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return n * ms;
}

export function parseSeconds(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n < min || n > max) throw new UsageError(`${flag} "${value}" must be a number of seconds from ${min} to ${max}`);
  return n;
}
