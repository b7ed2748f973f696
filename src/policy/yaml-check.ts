import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Pair } from 'yaml';
import { CheckFailed, type CheckIssue } from '../errors.js';

/**
 * A small structural checker for YAML files that keeps every node's position, so that an error
 * can say file:line:column and the dotted field path — what `policy check` promises.
 */
export type Shape =
  | {
      kind: 'object';
      fields: Record<string, Field>;
      description?: string;
      /** Keys refused with their own message (e.g. an inline secret: where secrets go instead). */
      forbidden?: Record<string, string>;
      /** Never quote the value in a message (it may be a secret written in the wrong place). */
      quiet?: boolean;
    }
  | { kind: 'map'; values: Shape; keyPattern?: RegExp; keyHint?: string }
  | { kind: 'array'; items: Shape; minItems?: number }
  | {
      kind: 'string';
      enum?: readonly string[];
      /** Words people write for an enum value, by meaning (`irrecoverable` → destructive-irreversible): suggested before any spelling match. */
      meanings?: Readonly<Record<string, string>>;
      pattern?: RegExp;
      patternHint?: string;
      check?: (s: string) => string | null;
      quiet?: boolean;
    }
  | { kind: 'boolean' }
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'oneOf'; options: Shape[]; hint: string };

export interface Field {
  shape: Shape;
  required?: boolean;
}

/** Edit distance, for "did you mean" on misspelt keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The value a word means, by the shape's table: the whole word, or its last part (`destructive-permanent` → `permanent`). */
function meaningOf(word: string, meanings: Readonly<Record<string, string>>): string | null {
  const w = word.toLowerCase().replace(/_/g, '-');
  return meanings[w] ?? meanings[w.split('-').pop()!] ?? null;
}

const NEGATIONS = ['non', 'ir', 'un', 'in', 'im', 'dis'];

/**
 * Whether one of the two spells a part of the other negated (irrecoverable / recoverable,
 * unsafe / safe): a suggestion across that line would flip the meaning, so none is made.
 */
function negates(word: string, candidate: string): boolean {
  const ws = word.toLowerCase().split(/[-_ ]/);
  const cs = candidate.toLowerCase().split(/[-_ ]/);
  for (const a of ws) {
    for (const b of cs) {
      if (a === b) continue;
      for (const n of NEGATIONS) {
        if (a.startsWith(n) && distance(a.slice(n.length), b) <= 1) return true;
        if (b.startsWith(n) && distance(b.slice(n.length), a) <= 1) return true;
      }
    }
  }
  return false;
}

export function suggest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    if (negates(word, c)) continue;
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

/**
 * The declared set a misspelt set name most likely meant: by edit distance first, else by the
 * longest shared start (people shorten names: protected-envs for protected-environments).
 */
export function suggestSet(word: string, sets: readonly string[]): string | null {
  const close = suggest(word, sets);
  if (close) return close;
  const w = word.toLowerCase();
  let best: string | null = null;
  let bestLen = 0;
  for (const c of sets) {
    if (negates(word, c)) continue;
    const l = c.toLowerCase();
    let n = 0;
    while (n < w.length && n < l.length && w[n] === l[n]) n++;
    if (n > bestLen) {
      bestLen = n;
      best = c;
    }
  }
  return best !== null && bestLen >= 5 ? best : null;
}

/**
 * Parse `text` as YAML and check it against `shape`. Returns plain JS data when there are no
 * issues; throws CheckFailed with every issue found (not only the first) otherwise.
 */
export function parseAndCheck(text: string, file: string, shape: Shape): unknown {
  return parseAndLocate(text, file, shape).value;
}

export interface Located {
  value: unknown;
  /** Where each field path (as in CheckIssue.field) starts in the file, for checks after the shape. */
  position(field: string): { line: number; column: number };
}

export function parseAndLocate(text: string, file: string, shape: Shape): Located {
  const positions = new Map<string, { line: number; column: number }>();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: CheckIssue[] = [];
  const at = (offset: number | undefined, field: string, message: string): void => {
    const pos = lineCounter.linePos(offset ?? 0);
    issues.push({ file, line: pos.line, column: pos.col, field, message });
  };
  for (const e of doc.errors) {
    const msg = e.message.split('\n')[0] ?? e.message;
    at(e.pos[0], '', e.code === 'DUPLICATE_KEY' ? `duplicate key: ${msg}` : `YAML syntax error: ${msg}`);
  }
  if (issues.length > 0) throw new CheckFailed(issues);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    at(0, '', 'the file is empty; a policy needs at least `version: 1`');
    throw new CheckFailed(issues);
  }

  const walk = (node: YamlNode | null, s: Shape, field: string): unknown => {
    const offset = node?.range?.[0];
    if (!positions.has(field)) {
      const pos = lineCounter.linePos(offset ?? 0);
      positions.set(field, { line: pos.line, column: pos.col });
    }
    switch (s.kind) {
      case 'object': {
        if (!isMap(node)) {
          at(offset, field, `expected a mapping (key: value lines), found ${describe(node, s.quiet)}`);
          return undefined;
        }
        const out: Record<string, unknown> = {};
        const known = Object.keys(s.fields);
        for (const pair of node.items as Pair<YamlNode, YamlNode>[]) {
          const key = isScalar(pair.key) ? String(pair.key.value) : null;
          const keyOffset = pair.key?.range?.[0];
          const sub = field ? `${field}.${key}` : String(key);
          if (key === null) {
            at(keyOffset, field, 'keys must be plain names');
            continue;
          }
          const f = s.fields[key];
          const refused = s.forbidden?.[key];
          if (refused !== undefined) {
            at(keyOffset, sub, refused);
            continue;
          }
          if (!f) {
            const hint = suggest(key, known);
            at(keyOffset, sub, `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''} (known keys: ${known.join(', ')})`);
            continue;
          }
          out[key] = walk(pair.value, f.shape, sub);
        }
        for (const [name, f] of Object.entries(s.fields)) {
          if (f.required && !(name in out)) at(offset, field ? `${field}.${name}` : name, `"${name}" is required`);
        }
        return out;
      }
      case 'map': {
        if (!isMap(node)) {
          at(offset, field, `expected a mapping, found ${describe(node)}`);
          return undefined;
        }
        const out: Record<string, unknown> = {};
        for (const pair of node.items as Pair<YamlNode, YamlNode>[]) {
          const key = isScalar(pair.key) ? String(pair.key.value) : '';
          const sub = field ? `${field}.${key}` : key;
          if (s.keyPattern && !s.keyPattern.test(key)) {
            at(pair.key?.range?.[0], sub, `"${key}" is not a valid name${s.keyHint ? ` (${s.keyHint})` : ''}`);
            continue;
          }
          out[key] = walk(pair.value, s.values, sub);
        }
        return out;
      }
      case 'array': {
        if (!isSeq(node)) {
          at(offset, field, `expected a list, found ${describe(node)}`);
          return undefined;
        }
        if (s.minItems !== undefined && node.items.length < s.minItems) {
          at(offset, field, `needs at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
        }
        return node.items.map((item, i) => walk(item as YamlNode, s.items, `${field}[${i}]`));
      }
      case 'string': {
        if (!isScalar(node) || typeof node.value !== 'string') {
          at(offset, field, `expected a string, found ${describe(node, s.quiet)}`);
          return undefined;
        }
        const v = node.value;
        if (s.enum && !s.enum.includes(v)) {
          const hint = (s.meanings && meaningOf(v, s.meanings)) ?? suggest(v, s.enum);
          at(offset, field, `"${v}" is not one of ${s.enum.join(', ')}${hint ? `; did you mean "${hint}"?` : ''}`);
          return undefined;
        }
        if (s.pattern && !s.pattern.test(v)) {
          at(offset, field, `${s.quiet ? 'the value' : `"${v}"`} is not valid${s.patternHint ? `: ${s.patternHint}` : ''}`);
          return undefined;
        }
        const problem = s.check?.(v);
        if (problem) {
          at(offset, field, problem);
          return undefined;
        }
        return v;
      }
      case 'boolean':
        if (!isScalar(node) || typeof node.value !== 'boolean') {
          at(offset, field, `expected true or false, found ${describe(node)}`);
          return undefined;
        }
        return node.value;
      case 'integer': {
        if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
          at(offset, field, `expected a whole number, found ${describe(node)}`);
          return undefined;
        }
        const v = node.value;
        if ((s.min !== undefined && v < s.min) || (s.max !== undefined && v > s.max)) {
          at(offset, field, `${v} is out of range (${s.min ?? '…'} to ${s.max ?? '…'})`);
          return undefined;
        }
        return v;
      }
      case 'oneOf': {
        // try each option silently; if none fits, the option of the node's own kind says what is
        // wrong (a misspelt enum value keeps its suggestion), else one message names the choices
        const kindOf = (o: Shape): boolean =>
          (isSeq(node) && o.kind === 'array') || (isMap(node) && (o.kind === 'object' || o.kind === 'map')) || (isScalar(node) && !['array', 'object', 'map', 'oneOf'].includes(o.kind));
        let ownKind: CheckIssue[] | null = null;
        for (const option of s.options) {
          const before = issues.length;
          const v = walk(node, option, field);
          if (issues.length === before) return v;
          if (ownKind === null && kindOf(option)) ownKind = issues.slice(before);
          issues.length = before;
        }
        if (ownKind && ownKind.length > 0) issues.push(...ownKind);
        else at(offset, field, `expected ${s.hint}, found ${describe(node)}`);
        return undefined;
      }
    }
  };

  const value = walk(doc.contents as YamlNode, shape, '');
  if (issues.length > 0) throw new CheckFailed(issues);
  return {
    value,
    position: (field) => {
      // the nearest recorded ancestor when the exact field has no node of its own
      for (let f = field; ; f = f.replace(/(\.[^.[\]]*|\[\d+\])$/, '')) {
        const p = positions.get(f);
        if (p) return p;
        if (f === '') return { line: 1, column: 1 };
      }
    },
  };
}

function describe(node: YamlNode | null, quiet = false): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'an empty value';
    if (typeof v === 'string') return quiet ? 'a string' : `the string "${v.slice(0, 40)}"`;
    return `${typeof v} ${String(v)}`;
  }
  return 'something else';
}
