import { describe, expect, it } from 'vitest';
import {
  BadAuthorityError,
  CaError,
  CheckFailed,
  errorCode,
  errorMessage,
  LookupError,
  PolicyError,
  RuntimeError,
  ScopegateError,
  StoreError,
  TooDeep,
  UsageError,
} from '../../src/errors.js';

describe('errors: one base class, one code and name per kind', () => {
  const issue = { file: 'p.yaml', line: 3, column: 5, field: 'egress.default', message: 'must be allow or deny' };
  const kinds: [ScopegateError, string, string][] = [
    [new UsageError('bad flag'), 'SCOPEGATE_USAGE', 'UsageError'],
    [new RuntimeError('failed'), 'SCOPEGATE_RUNTIME', 'RuntimeError'],
    [new PolicyError('cannot read policy p.yaml: ENOENT'), 'SCOPEGATE_POLICY', 'PolicyError'],
    [new CheckFailed([issue]), 'SCOPEGATE_CHECK_FAILED', 'CheckFailed'],
    [new LookupError('lookup: timed out'), 'SCOPEGATE_LOOKUP', 'LookupError'],
    [new StoreError('cannot open the hold store'), 'SCOPEGATE_STORE', 'StoreError'],
    [new BadAuthorityError('not a host'), 'SCOPEGATE_BAD_AUTHORITY', 'BadAuthorityError'],
    [new CaError('no CA'), 'SCOPEGATE_CA', 'CaError'],
    [new TooDeep(), 'SCOPEGATE_TOO_DEEP', 'TooDeep'],
  ];

  it.each(kinds.map(([err, code, name]) => ({ err, code, name })))('$name is a ScopegateError with code $code', ({ err, code, name }) => {
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(ScopegateError);
    expect(err.code).toBe(code);
    expect(err.name).toBe(name);
    expect(String(err)).toMatch(new RegExp(`^${name}`));
    expect(err.stack).toContain(name);
  });

  it('codes and names are distinct, and every code is SCOPEGATE_*', () => {
    expect(new Set(kinds.map(([e]) => e.code)).size).toBe(kinds.length);
    expect(new Set(kinds.map(([e]) => e.name)).size).toBe(kinds.length);
    for (const [e] of kinds) expect(e.code).toMatch(/^SCOPEGATE_[A-Z_]+$/);
  });

  it('keeps what each kind carries: messages, exit codes, the issues of a failed check', () => {
    expect(new UsageError('bad flag').message).toBe('bad flag');
    expect(new UsageError('x').exitCode).toBe(2);
    expect(new RuntimeError('x').exitCode).toBe(1);
    const failed = new CheckFailed([issue, { ...issue, line: 4, field: '', message: 'unknown key' }]);
    expect(failed.issues).toHaveLength(2);
    expect(failed.message).toBe('p.yaml:3:5: egress.default: must be allow or deny\np.yaml:4:5: unknown key');
  });

  it('passes a cause on', () => {
    const cause = new Error('disk full');
    expect(new StoreError('cannot write', { cause }).cause).toBe(cause);
  });
});

describe('errorMessage and errorCode', () => {
  const enoent = Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });

  it('an Error: its message and its string code', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage(new LookupError('lookup: timed out'))).toBe('lookup: timed out');
    expect(errorCode(enoent)).toBe('ENOENT');
    expect(errorCode(new Error('no code'))).toBeUndefined();
    expect(errorCode(new CaError('x'))).toBe('SCOPEGATE_CA');
    expect(errorCode(Object.assign(new Error('x'), { code: 42 }))).toBeUndefined();
  });

  it('a thrown string: itself, and no code', () => {
    expect(errorMessage('plain string')).toBe('plain string');
    expect(errorCode('ENOENT')).toBeUndefined();
  });

  it('undefined and null: text, and no code', () => {
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage(null)).toBe('null');
    expect(errorCode(undefined)).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
  });

  it('other values: an object with a message, a number, an object that cannot be turned into text', () => {
    expect(errorMessage({ message: 'from an object', code: 'E_OBJ' })).toBe('from an object');
    expect(errorCode({ message: 'from an object', code: 'E_OBJ' })).toBe('E_OBJ');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(Object.create(null))).toBe('unknown error');
  });
});
