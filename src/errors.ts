/**
 * scopegate's errors, in one place. Each kind is a subclass of ScopegateError with a stable
 * `code` (SCOPEGATE_*, as undici names its own UND_ERR_*) and a `name`: callers may test
 * `instanceof` or compare `code`, which never changes once released; messages may be reworded.
 * This module imports nothing, so any module may use it.
 */

export type ScopegateErrorCode =
  | 'SCOPEGATE_USAGE'
  | 'SCOPEGATE_RUNTIME'
  | 'SCOPEGATE_POLICY'
  | 'SCOPEGATE_CHECK_FAILED'
  | 'SCOPEGATE_LOOKUP'
  | 'SCOPEGATE_STORE'
  | 'SCOPEGATE_BAD_AUTHORITY'
  | 'SCOPEGATE_CA'
  | 'SCOPEGATE_TOO_DEEP';

export abstract class ScopegateError extends Error {
  abstract readonly code: ScopegateErrorCode;
  abstract override readonly name: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Bad usage or bad input on the command line: the CLI exits 2 with a message naming the problem. */
export class UsageError extends ScopegateError {
  override readonly code = 'SCOPEGATE_USAGE';
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

/** Something went wrong at run time: the CLI exits 1. */
export class RuntimeError extends ScopegateError {
  override readonly code = 'SCOPEGATE_RUNTIME';
  override readonly name = 'RuntimeError';
  readonly exitCode = 1;
}

/** A policy file that cannot be read (a policy that reads but does not check is CheckFailed). */
export class PolicyError extends ScopegateError {
  override readonly code = 'SCOPEGATE_POLICY';
  override readonly name = 'PolicyError';
}

/** One problem a structural check found in a YAML file, where it is and which field. */
export interface CheckIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path to the field, e.g. `egress.default` or `rules[2].action`. */
  field: string;
  message: string;
}

/** `file:line:column: field: message`, as `policy check` prints it. */
export function formatIssue(i: CheckIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.field ? `${i.field}: ` : ''}${i.message}`;
}

/** A file that does not check: every issue found (not only the first), one per line in the message. */
export class CheckFailed extends ScopegateError {
  override readonly code = 'SCOPEGATE_CHECK_FAILED';
  override readonly name = 'CheckFailed';

  constructor(readonly issues: CheckIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

/** A lookup that did not give a usable answer. The scope it was for is unresolved; nothing is guessed. */
export class LookupError extends ScopegateError {
  override readonly code = 'SCOPEGATE_LOOKUP';
  override readonly name = 'LookupError';
}

/** The hold store could not be opened or used. */
export class StoreError extends ScopegateError {
  override readonly code = 'SCOPEGATE_STORE';
  override readonly name = 'StoreError';
}

/** A connection target (CONNECT authority, Host, absolute URL) that is not a host and port. */
export class BadAuthorityError extends ScopegateError {
  override readonly code = 'SCOPEGATE_BAD_AUTHORITY';
  override readonly name = 'BadAuthorityError';
}

/** The interception CA could not be made, read or written. */
export class CaError extends ScopegateError {
  override readonly code = 'SCOPEGATE_CA';
  override readonly name = 'CaError';
}

/** A value nested deeper than a walker allows; caught where it is thrown and turned into a refusal. */
export class TooDeep extends ScopegateError {
  override readonly code = 'SCOPEGATE_TOO_DEEP';
  override readonly name = 'TooDeep';

  constructor(message = 'nested too deeply') {
    super(message);
  }
}

/** The message of anything thrown: an Error's message, a thrown string itself, else its text. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  try {
    return String(err);
  } catch {
    return 'unknown error';
  }
}

/** The string `code` of anything thrown (ENOENT, UND_ERR_CONNECT_TIMEOUT, SCOPEGATE_…), or undefined. */
export function errorCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
