import {
  Kind,
  parse,
  valueFromASTUntyped,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { errorMessage, TooDeep } from '../errors.js';

/** A root field the server would execute, with its arguments as the executor would see them. */
export interface RootField {
  operationType: 'query' | 'mutation' | 'subscription';
  operationName: string | null;
  /** The schema field name; aliases never decide anything. */
  field: string;
  alias: string | null;
  /** Argument values with variables and their defaults applied; absent values left out. */
  args: Record<string, unknown>;
  /** true when an @skip/@include could not be evaluated, so the field is judged as present. */
  conditional: boolean;
}

export type DocumentAnalysis = { ok: true; fields: RootField[]; operationCount: number } | { ok: false; reason: string };

/** Upper bounds that keep a hostile document from costing more than a real one. */
const MAX_TOKENS = 50_000;
const MAX_FRAGMENT_DEPTH = 50;

/** Argument values nested deeper than this are refused: every later walker then has a bound. */
const MAX_VALUE_DEPTH = 64;
/** Root fields one request may expand to; real documents have a handful. */
const MAX_ROOT_FIELDS = 2000;

/** Drop keys whose value is undefined (a variable that was not provided), at every depth. */
function pruneUndefined(v: unknown, depth = 0): unknown {
  if (depth > MAX_VALUE_DEPTH) throw new TooDeep();
  if (Array.isArray(v)) return v.map((x) => pruneUndefined(x, depth + 1));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x !== undefined) out[k] = pruneUndefined(x, depth + 1);
    }
    return out;
  }
  return v;
}

/**
 * Variable values as graphql-js coerces them, without a schema: a provided value (even null)
 * wins; otherwise the definition's default; otherwise the variable is absent.
 */
function variableValues(op: OperationDefinitionNode, provided: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const def of op.variableDefinitions ?? []) {
    const name = def.variable.name.value;
    if (provided && Object.prototype.hasOwnProperty.call(provided, name)) out[name] = provided[name];
    else if (def.defaultValue) out[name] = valueFromASTUntyped(def.defaultValue, {});
  }
  return out;
}

/** true: included, false: skipped, null: cannot tell (judge it as included). */
function included(directives: readonly DirectiveNode[] | undefined, vars: Record<string, unknown>): boolean | null {
  let result: boolean | null = true;
  for (const d of directives ?? []) {
    const name = d.name.value;
    if (name !== 'skip' && name !== 'include') continue;
    const arg = d.arguments?.find((a) => a.name.value === 'if');
    const value = arg ? valueFromASTUntyped(arg.value, vars) : undefined;
    if (typeof value !== 'boolean') {
      result = null;
      continue;
    }
    if ((name === 'skip' && value) || (name === 'include' && !value)) return false;
  }
  return result;
}

/**
 * Parse a document and list every root field of every operation in it: the server runs only the
 * operation `operationName` selects, but judging all of them means no choice of name can hide one.
 * Fragments and inline fragments are expanded; aliases resolved to field names.
 */
export function analyseDocument(query: string, variables: Record<string, unknown> | undefined): DocumentAnalysis {
  try {
    return analyse(query, variables);
  } catch (err) {
    // graphql-js parses and evaluates values recursively: a literal nested thousands deep
    // overflows the stack. Such a document is refused, never forwarded, never a crash.
    if (err instanceof RangeError) return { ok: false, reason: 'the document nests too deeply to judge' };
    throw err;
  }
}

function analyse(query: string, variables: Record<string, unknown> | undefined): DocumentAnalysis {
  let doc: DocumentNode;
  try {
    doc = parse(query, { noLocation: true, maxTokens: MAX_TOKENS });
  } catch (err) {
    return { ok: false, reason: `the GraphQL document does not parse: ${errorMessage(err).split('\n')[0]}` };
  }
  const fragments = new Map<string, FragmentDefinitionNode>();
  const operations: OperationDefinitionNode[] = [];
  for (const def of doc.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) {
      if (fragments.has(def.name.value)) return { ok: false, reason: `fragment ${def.name.value} is defined twice` };
      fragments.set(def.name.value, def);
    } else if (def.kind === Kind.OPERATION_DEFINITION) {
      operations.push(def);
    } else {
      // type system definitions or extensions are not executable: the server refuses the document
      return { ok: false, reason: 'the document contains definitions that are not operations or fragments' };
    }
  }
  if (operations.length === 0) return { ok: false, reason: 'the document has no operation' };

  const fields: RootField[] = [];
  for (const op of operations) {
    const vars = variableValues(op, variables);
    // a fragment spread twice in one operation yields the same fields twice (same variables):
    // walking it once keeps `...F ...F` chains from expanding to 2^n fields
    const expanded = new Set<string>();
    const walk = (set: SelectionSetNode, conditional: boolean, depth: number, seen: ReadonlySet<string>): string | null => {
      if (depth > MAX_FRAGMENT_DEPTH) return 'fragments nest too deeply';
      if (fields.length > MAX_ROOT_FIELDS) return `the document selects more than ${MAX_ROOT_FIELDS} root fields`;
      for (const sel of set.selections) {
        const inc = included(sel.directives, vars);
        if (inc === false) continue;
        const cond = conditional || inc === null;
        if (sel.kind === Kind.FIELD) {
          const name = sel.name.value;
          const args: Record<string, unknown> = {};
          for (const a of sel.arguments ?? []) {
            const v = valueFromASTUntyped(a.value, vars);
            try {
              if (v !== undefined) args[a.name.value] = pruneUndefined(v);
            } catch (err) {
              if (err instanceof TooDeep) return `argument ${a.name.value} of ${name} nests deeper than ${MAX_VALUE_DEPTH} levels`;
              throw err;
            }
          }
          fields.push({
            operationType: op.operation as RootField['operationType'],
            operationName: op.name?.value ?? null,
            field: name,
            alias: sel.alias?.value ?? null,
            args,
            conditional: cond,
          });
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          const problem = walk(sel.selectionSet, cond, depth + 1, seen);
          if (problem) return problem;
        } else {
          const fname = sel.name.value;
          const frag = fragments.get(fname);
          if (!frag) return `fragment ${fname} is used but not defined`;
          if (seen.has(fname)) return `fragment ${fname} spreads itself`;
          const fragCond = cond || included(frag.directives, vars) === null;
          const key = `${fname}|${fragCond}`;
          if (expanded.has(key)) continue;
          expanded.add(key);
          const problem = walk(frag.selectionSet, fragCond, depth + 1, new Set([...seen, fname]));
          if (problem) return problem;
        }
      }
      return null;
    };
    const problem = walk(op.selectionSet, false, 0, new Set());
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true, fields, operationCount: operations.length };
}
