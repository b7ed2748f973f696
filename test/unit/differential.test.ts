/**
 * Differential test of the GraphQL root-field extractor (src/inspect/graphql-document.ts) against a
 * real graphql-js execution on the Railway SDL subset (test/fixtures/railway/schema.graphql).
 *
 * Claim under test: for a valid document, the set of root *mutation* field names analyseDocument()
 * reports equals the set a graphql-js execution invokes, where "execution" is one execute() per
 * operation of the document (by operationName) and the union of what they invoke. (Root query and
 * subscription fields are compared the same way; that is stricter than the claim.)
 *
 * Arguments: for every invoked root field, the `args` its resolver receives (graphql-js coerced,
 * including variable defaults and list coercion) are compared with the extractor's `args` for the
 * selection with the same operation, field and response key:
 *   - they must deep-equal, EXCEPT where schema-driven coercion legitimately differs, because the
 *     extractor works without the schema:
 *       (a) input-object field defaults from the schema (e.g. VariableCollectionUpsertInput.replace
 *           = false) appear in the executed args but not in the extractor's;
 *       (b) a single value given where a list is expected (literal, variable value or variable
 *           default) is wrapped into a one-item list by graphql-js, the extractor keeps the value.
 *     For those, extractor ⊆ executed is asserted instead: every key/value the extractor reports is
 *     present with the same value in the executed args. The check is schema-guided, so it is tighter
 *     than a plain subset: an extra executed key is accepted only when the schema gives that input
 *     field (or argument) a default, and a list wrapper only where the schema type is a list.
 *   - keys whose value is `undefined` (a variable that was not provided, inside a custom-scalar
 *     literal) are dropped from both sides: they do not exist on the wire.
 *
 * Where the extractor marks a field `conditional` (an @skip/@include it could not evaluate, e.g. a
 * directive variable explicitly null), graphql-js refuses the operation, so the extractor's set is
 * allowed to be a superset of the executed one. The same holds for the few hand-written documents
 * flagged `executorRefuses` (valid document, but variables graphql-js rejects): extractor ⊇ executed.
 * Everywhere else: equality, and execution must produce no errors.
 *
 * `__typename` at the root is listed by the extractor but runs no resolver; names starting with `__`
 * are left out of the comparison.
 *
 * Corpus: hand-written tricky documents (HAND) and documents generated from a seeded PRNG (GENERATED);
 * every one must pass graphql-js validate() against the subset, which is asserted, not assumed.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  parse,
  validate,
  type DocumentNode,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { analyseDocument, type RootField } from '../../src/graphql/document.js';
import { executeEveryOperation, type Execution } from '../helpers/mock-execution.js';

const schema = buildSchema(readFileSync(new URL('../fixtures/railway/schema.graphql', import.meta.url), 'utf8'));

function rootType(op: string): GraphQLObjectType {
  const t = op === 'mutation' ? schema.getMutationType() : op === 'subscription' ? schema.getSubscriptionType() : op === 'query' ? schema.getQueryType() : null;
  if (!t) throw new Error(`no root type for ${op}`);
  return t;
}
const MUTATION = rootType('mutation');
const QUERY = rootType('query');
const SUBSCRIPTION = rootType('subscription');

// ---------------------------------------------------------------------------------------------
// Execution with mock resolvers
// ---------------------------------------------------------------------------------------------

function executeAll(doc: DocumentNode, variables: Record<string, unknown> | undefined): Promise<Execution> {
  return executeEveryOperation(schema, doc, variables);
}

// ---------------------------------------------------------------------------------------------
// Argument comparison
// ---------------------------------------------------------------------------------------------

/** Plain-object copy (graphql-js builds input objects with a null prototype); undefined keys dropped. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const has = (o: Record<string, unknown>, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * extractor ⊆ executed, guided by the schema type: the only differences accepted are the two
 * coercions documented at the top (input-field defaults, single value → list).
 */
function coercedSubset(ext: unknown, exe: unknown, type: GraphQLInputType): boolean {
  const t = isNonNullType(type) ? type.ofType : type;
  if (ext === null || exe === null) return ext === exe;
  if (isListType(t)) {
    const item = t.ofType as GraphQLInputType;
    if (!Array.isArray(exe)) return false;
    if (!Array.isArray(ext)) return exe.length === 1 && coercedSubset(ext, exe[0], item);
    return ext.length === exe.length && ext.every((x, i) => coercedSubset(x, exe[i], item));
  }
  if (isInputObjectType(t)) {
    if (!isRecord(ext) || !isRecord(exe)) return false;
    const fields = t.getFields();
    for (const k of Object.keys(ext)) {
      const f = fields[k];
      if (!f || !has(exe, k) || !coercedSubset(ext[k], exe[k], f.type)) return false;
    }
    for (const k of Object.keys(exe)) {
      if (has(ext, k)) continue;
      const f = fields[k];
      if (!f || f.defaultValue === undefined || !isDeepStrictEqual(exe[k], plain(f.defaultValue))) return false;
    }
    return true;
  }
  return isDeepStrictEqual(ext, exe);
}

type Verdict = 'equal' | 'coerced' | 'differs';

function compareArgs(extArgs: Record<string, unknown>, exeArgs: Record<string, unknown>, field: GraphQLField<unknown, unknown>): Verdict {
  const ext = plain(extArgs) as Record<string, unknown>;
  const exe = plain(exeArgs) as Record<string, unknown>;
  if (isDeepStrictEqual(ext, exe)) return 'equal';
  const argDef = (name: string): GraphQLArgument | undefined => field.args.find((a) => a.name === name);
  for (const k of Object.keys(ext)) {
    const a = argDef(k);
    if (!a || !has(exe, k) || !coercedSubset(ext[k], exe[k], a.type)) return 'differs';
  }
  for (const k of Object.keys(exe)) {
    if (has(ext, k)) continue;
    const a = argDef(k);
    if (!a || a.defaultValue === undefined) return 'differs';
  }
  return 'coerced';
}

// ---------------------------------------------------------------------------------------------
// The differential check
// ---------------------------------------------------------------------------------------------

interface Entry {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  /** expected: the extractor marks some field conditional (default false) */
  conditional?: boolean;
  /** expected: graphql-js refuses an operation (valid document, variables it rejects) */
  executorRefuses?: boolean;
  /** generated with a directive variable explicitly null: conditional not predicted, graphql-js may refuse */
  mayRefuse?: boolean;
  /** hand-written anchor: the mutation fields graphql-js must invoke */
  mutations?: string[];
}

interface Outcome {
  mutationCalls: number;
  rootCalls: number;
  strictArgs: number;
  coercedArgs: number;
  conditional: boolean;
  refused: boolean;
}

const responseKey = (f: RootField): string => f.alias ?? f.field;
const sorted = (s: Iterable<string>): string[] => [...s].sort();

async function differential(entry: Entry): Promise<Outcome> {
  const label = `${entry.name}\n${entry.query}\nvariables: ${JSON.stringify(entry.variables)}`;
  const doc = parse(entry.query);
  expect(
    validate(schema, doc).map((e) => e.message),
    `document must be valid against the subset: ${label}`,
  ).toEqual([]);
  const analysis = analyseDocument(entry.query, entry.variables);
  if (!analysis.ok) throw new Error(`extractor refused a valid document (${analysis.reason}): ${label}`);
  const opCount = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length;
  expect(analysis.operationCount, label).toBe(opCount);

  const { calls, errors } = await executeAll(doc, entry.variables);
  const conditional = analysis.fields.some((f) => f.conditional);
  const refused = errors.size > 0;
  if (!entry.mayRefuse) expect(conditional, `conditional flag: ${label}`).toBe(entry.conditional ?? false);
  if (entry.executorRefuses) expect(refused, `graphql-js should refuse: ${label}`).toBe(true);
  else if (!conditional && !entry.mayRefuse) expect(Object.fromEntries(errors), `execution errors: ${label}`).toEqual({});
  const supersetAllowed = conditional || entry.executorRefuses === true || (entry.mayRefuse === true && refused);

  const ext = analysis.fields.filter((f) => !f.field.startsWith('__'));
  const exeMutations = new Set(calls.filter((c) => c.opType === 'mutation').map((c) => c.field));
  const extMutations = new Set(ext.filter((f) => f.operationType === 'mutation').map((f) => f.field));
  const exeRoot = new Set(calls.map((c) => `${c.opType}:${c.field}`));
  const extRoot = new Set(ext.map((f) => `${f.operationType}:${f.field}`));
  if (supersetAllowed) {
    expect(sorted([...exeMutations].filter((n) => !extMutations.has(n))), `mutations executed but not reported: ${label}`).toEqual([]);
    expect(sorted([...exeRoot].filter((n) => !extRoot.has(n))), `root fields executed but not reported: ${label}`).toEqual([]);
  } else {
    expect(sorted(extMutations), `mutation field sets: ${label}`).toEqual(sorted(exeMutations));
    expect(sorted(extRoot), `root field sets: ${label}`).toEqual(sorted(exeRoot));
  }
  if (entry.mutations) expect(sorted(exeMutations), `anchor: ${label}`).toEqual(sorted(entry.mutations));

  let strictArgs = 0;
  let coercedArgs = 0;
  // executed → extractor: every invocation has a reported selection with these arguments
  for (const c of calls) {
    const def = rootType(c.opType).getFields()[c.field];
    if (!def) throw new Error(`unknown root field ${c.field}`);
    const candidates = ext.filter((f) => f.operationType === c.opType && f.operationName === c.opName && f.field === c.field && responseKey(f) === c.key);
    expect(candidates.length, `invocation ${c.opName ?? '(anonymous)'}.${c.key}: ${c.field} not reported: ${label}`).toBeGreaterThan(0);
    const verdicts = candidates.map((f) => compareArgs(f.args, c.args, def));
    const verdict: Verdict = verdicts.includes('equal') ? 'equal' : verdicts.includes('coerced') ? 'coerced' : 'differs';
    expect(
      verdict,
      `arguments of ${c.field} (${c.key}) differ\n  executed:  ${JSON.stringify(plain(c.args))}\n  extractor: ${candidates.map((f) => JSON.stringify(f.args)).join(' | ')}\n${label}`,
    ).not.toBe('differs');
    if (verdict === 'equal') strictArgs++;
    else coercedArgs++;
  }
  // extractor → executed: every reported, non-conditional selection of an operation graphql-js ran ran
  for (const f of ext) {
    if (f.conditional || errors.has(f.operationName ?? '')) continue;
    const def = rootType(f.operationType).getFields()[f.field];
    if (!def) throw new Error(`unknown root field ${f.field}`);
    const match = calls.find((c) => c.opType === f.operationType && c.opName === f.operationName && c.field === f.field && c.key === responseKey(f));
    expect(match, `reported but not executed: ${f.operationName ?? '(anonymous)'}.${responseKey(f)}: ${f.field}: ${label}`).toBeDefined();
    if (match) expect(compareArgs(f.args, match.args, def), `arguments of ${f.field}: ${label}`).not.toBe('differs');
  }

  return {
    mutationCalls: calls.filter((c) => c.opType === 'mutation').length,
    rootCalls: calls.length,
    strictArgs,
    coercedArgs,
    conditional,
    refused,
  };
}

// ---------------------------------------------------------------------------------------------
// Hand-written corpus
// ---------------------------------------------------------------------------------------------

const HAND: Entry[] = [
  {
    name: 'alias named like another mutation',
    query: 'mutation { volumeDelete: serviceCreate(input: {projectId: "p1", name: "web"}) { id } }',
    mutations: ['serviceCreate'],
  },
  {
    name: 'two aliases cross-named',
    query: 'mutation { serviceDelete: volumeDelete(volumeId: "v1") volumeDelete: serviceDelete(id: "s1", environmentId: "e1") }',
    mutations: ['serviceDelete', 'volumeDelete'],
  },
  {
    name: 'several root fields',
    query: 'mutation { volumeDelete(volumeId: "v1") serviceDelete(id: "s1", environmentId: "e1") deploymentRestart(id: "d1") projectDelete(id: "p1") }',
    mutations: ['volumeDelete', 'serviceDelete', 'deploymentRestart', 'projectDelete'],
  },
  {
    name: 'same field twice under two aliases with different args',
    query: 'mutation { a: volumeDelete(volumeId: "v1") b: volumeDelete(volumeId: "v2") }',
    mutations: ['volumeDelete'],
  },
  {
    name: 'several named operations: all of them are executed and judged',
    query: 'mutation A { volumeDelete(volumeId: "v1") } mutation B { projectDelete(id: "p1") } query Q { me { id } }',
    mutations: ['volumeDelete', 'projectDelete'],
  },
  {
    name: 'anonymous mutation with variables (operationName null)',
    query: 'mutation ($id: String!) { environmentDelete(id: $id) }',
    variables: { id: 'e-9' },
    mutations: ['environmentDelete'],
  },
  {
    name: 'named fragment on Mutation',
    query: 'mutation M { ...Kill } fragment Kill on Mutation { environmentDelete(id: "e1") }',
    mutations: ['environmentDelete'],
  },
  {
    name: 'nested fragment spreads',
    query:
      'mutation { ...F1 } fragment F1 on Mutation { deploymentStop(id: "d1") ...F2 } fragment F2 on Mutation { ...F3 tcpProxyDelete(id: "t1") } fragment F3 on Mutation { workspaceDelete(id: "w1") }',
    mutations: ['deploymentStop', 'tcpProxyDelete', 'workspaceDelete'],
  },
  {
    name: 'inline fragment without type condition',
    query: 'mutation { ... { volumeDelete(volumeId: "v1") } }',
    mutations: ['volumeDelete'],
  },
  {
    name: 'inline fragment with type condition',
    query: 'mutation { ... on Mutation { serviceDelete(id: "s1") } }',
    mutations: ['serviceDelete'],
  },
  {
    name: 'inline inside named fragment inside inline',
    query: 'mutation { ... on Mutation { ...F } } fragment F on Mutation { ... { ... on Mutation { bucketCredentialsReset(bucketId: "b", environmentId: "e", projectId: "p") { accessKeyId } } } }',
    mutations: ['bucketCredentialsReset'],
  },
  {
    name: '@skip(if: true) literal',
    query: 'mutation { volumeDelete(volumeId: "v1") @skip(if: true) projectDelete(id: "p1") }',
    mutations: ['projectDelete'],
  },
  {
    name: '@skip(if: false), @include(if: true), @include(if: false) literals',
    query: 'mutation { a: volumeDelete(volumeId: "v1") @skip(if: false) b: serviceDelete(id: "s1") @include(if: true) c: projectDelete(id: "p1") @include(if: false) }',
    mutations: ['volumeDelete', 'serviceDelete'],
  },
  {
    name: '@skip with a variable true',
    query: 'mutation ($s: Boolean!) { volumeDelete(volumeId: "v1") @skip(if: $s) deploymentCancel(id: "d1") }',
    variables: { s: true },
    mutations: ['deploymentCancel'],
  },
  {
    name: '@skip with a variable false',
    query: 'mutation ($s: Boolean!) { volumeDelete(volumeId: "v1") @skip(if: $s) }',
    variables: { s: false },
    mutations: ['volumeDelete'],
  },
  {
    name: '@include with a variable false on an inline fragment',
    query: 'mutation ($i: Boolean!) { ... @include(if: $i) { projectDelete(id: "p1") } environmentRename(id: "e1", input: {name: "x"}) { id } }',
    variables: { i: false },
    mutations: ['environmentRename'],
  },
  {
    name: '@include with a variable true on a fragment spread',
    query: 'mutation ($i: Boolean!) { ...F @include(if: $i) } fragment F on Mutation { projectDelete(id: "p1") }',
    variables: { i: true },
    mutations: ['projectDelete'],
  },
  {
    name: 'directive variable default used (skip)',
    query: 'mutation ($s: Boolean = true) { volumeDelete(volumeId: "v1") @skip(if: $s) apiTokenDelete(id: "t") }',
    mutations: ['apiTokenDelete'],
  },
  {
    name: 'directive variable default overridden',
    query: 'mutation ($s: Boolean = true) { volumeDelete(volumeId: "v1") @skip(if: $s) }',
    variables: { s: false },
    mutations: ['volumeDelete'],
  },
  {
    name: '@skip and @include on one field',
    query: 'mutation ($a: Boolean!, $b: Boolean!) { x: volumeDelete(volumeId: "v1") @skip(if: $a) @include(if: $b) y: projectDelete(id: "p") @include(if: $a) @skip(if: $b) }',
    variables: { a: false, b: true },
    mutations: ['volumeDelete'],
  },
  {
    name: 'field skipped in one place but selected again (merged) elsewhere',
    query: 'mutation { volumeDelete(volumeId: "v1") @skip(if: true) ... { volumeDelete(volumeId: "v1") } }',
    mutations: ['volumeDelete'],
  },
  {
    name: 'same response key directly and through a fragment (merged)',
    query: 'mutation { volumeDelete(volumeId: "v1") ...F } fragment F on Mutation { volumeDelete(volumeId: "v1") }',
    mutations: ['volumeDelete'],
  },
  {
    name: 'one fragment spread in two operations whose variables differ',
    query: 'mutation A($x: Boolean = false) { ...F } mutation B($x: Boolean = true) { ...F serviceDelete(id: "s") } fragment F on Mutation { volumeDelete(volumeId: "v") @skip(if: $x) }',
    mutations: ['volumeDelete', 'serviceDelete'],
  },
  {
    name: 'variable default used',
    query: 'mutation ($id: String = "v9") { volumeDelete(volumeId: $id) }',
    mutations: ['volumeDelete'],
  },
  {
    name: 'variable default overridden',
    query: 'mutation ($id: String = "v9") { volumeDelete(volumeId: $id) }',
    variables: { id: 'v10' },
    mutations: ['volumeDelete'],
  },
  {
    name: 'explicit null overrides a default (nullable argument)',
    query: 'mutation ($env: String = "e1") { serviceDelete(id: "s1", environmentId: $env) }',
    variables: { env: null },
    mutations: ['serviceDelete'],
  },
  {
    name: 'nullable variable not provided: argument absent',
    query: 'mutation ($env: String) { serviceDelete(id: "s1", environmentId: $env) }',
    variables: {},
    mutations: ['serviceDelete'],
  },
  {
    name: 'variables the operation does not define are ignored',
    query: 'mutation ($id: String!) { volumeDelete(volumeId: $id) }',
    variables: { id: 'v1', other: 'v2', volumeId: 'v3' },
    mutations: ['volumeDelete'],
  },
  {
    name: 'nested input object with variables deep inside (incl. inside a custom-scalar literal)',
    query:
      'mutation ($p: String!, $s: String, $k: String, $r: Boolean) { variableCollectionUpsert(input: {projectId: $p, environmentId: "e1", serviceId: $s, variables: {API_KEY: $k, FIXED: "1"}, replace: $r}) }',
    variables: { p: 'p1', s: 's1', k: 'secret', r: true },
    mutations: ['variableCollectionUpsert'],
  },
  {
    name: 'input object variable without the defaulted fields (schema adds replace/skipDeploys: extractor ⊆ executed)',
    query: 'mutation ($input: VariableCollectionUpsertInput!) { variableCollectionUpsert(input: $input) }',
    variables: { input: { projectId: 'p1', environmentId: 'e1', variables: { A: '1' } } },
    mutations: ['variableCollectionUpsert'],
  },
  {
    name: 'replace: true literal',
    query: 'mutation { variableCollectionUpsert(input: {projectId: "p1", environmentId: "e1", variables: {}, replace: true, skipDeploys: true}) }',
    mutations: ['variableCollectionUpsert'],
  },
  {
    name: 'replace from a variable that is not provided (schema default false applies)',
    query: 'mutation ($r: Boolean) { variableCollectionUpsert(input: {projectId: "p1", environmentId: "e1", variables: {}, replace: $r}) }',
    mutations: ['variableCollectionUpsert'],
  },
  {
    name: 'environmentPatchCommit with a variable deep inside the patch and a missing optional variable',
    query:
      'mutation ($cmd: String, $m: String) { environmentPatchCommit(environmentId: "e1", commitMessage: $m, patch: {services: {s1: {deploy: {startCommand: $cmd, numReplicas: 2}}, s2: {isDeleted: true}}}) }',
    variables: { cmd: 'rm -rf /data' },
    mutations: ['environmentPatchCommit'],
  },
  {
    name: 'list argument given a single value (literal) and a list with a variable item',
    query: 'mutation ($r: String!) { volumeInstanceBackupRestore(volumeInstanceId: "vi1", volumeInstanceBackupId: "b1", wipeServiceIds: "s1", replicaServiceIds: ["a", $r]) { workflowId } }',
    variables: { r: 'b' },
    mutations: ['volumeInstanceBackupRestore'],
  },
  {
    name: 'list variable given a single value',
    query: 'mutation ($w: [String!]) { volumeInstanceBackupRestore(volumeInstanceId: "vi1", volumeInstanceBackupId: "b1", wipeServiceIds: $w) { workflowId } }',
    variables: { w: 's2' },
    mutations: ['volumeInstanceBackupRestore'],
  },
  {
    name: 'list variable whose default is a single value',
    query: 'mutation ($w: [String!] = "s3") { volumeInstanceBackupRestore(volumeInstanceId: "vi1", volumeInstanceBackupId: "b1", wipeServiceIds: $w) { workflowId } }',
    mutations: ['volumeInstanceBackupRestore'],
  },
  {
    name: 'enum list given a single enum value',
    query: 'mutation { volumeInstanceBackupScheduleUpdate(volumeInstanceId: "vi", kinds: DAILY) }',
    mutations: ['volumeInstanceBackupScheduleUpdate'],
  },
  {
    name: 'enum list through a variable',
    query: 'mutation ($k: [VolumeInstanceBackupScheduleKind!]!) { volumeInstanceBackupScheduleUpdate(volumeInstanceId: "vi", kinds: $k) }',
    variables: { k: ['DAILY', 'MONTHLY'] },
    mutations: ['volumeInstanceBackupScheduleUpdate'],
  },
  {
    name: '__typename at the root of a mutation',
    query: 'mutation { __typename volumeDelete(volumeId: "v1") t: __typename }',
    mutations: ['volumeDelete'],
  },
  {
    name: 'only __typename at the root of a mutation',
    query: 'mutation { __typename }',
    mutations: [],
  },
  {
    name: 'a query and a mutation in one document',
    query: 'query Q { me { id } projects(first: 2) { edges { node { id } } } } mutation M { projectDelete(id: "p1") }',
    mutations: ['projectDelete'],
  },
  {
    name: 'a subscription and a mutation in one document',
    query: 'subscription S { environmentStagedPatch(environmentId: "e1") { id status } } mutation M { environmentPatchCommitStaged(environmentId: "e1", skipDeploys: true) }',
    mutations: ['environmentPatchCommitStaged'],
  },
  {
    name: 'a query alone: no mutation',
    query: '{ me { id } volumeInstance(id: "vi") { id } }',
    mutations: [],
  },
  {
    name: 'templateDeployV2 with a nested serialized config and variables',
    query:
      'mutation ($pid: String, $cfg: SerializedTemplateConfig!) { templateDeployV2(input: {templateId: "t1", projectId: $pid, serializedConfig: $cfg, stageOnly: false}) { projectId workflowId } }',
    variables: { pid: 'p1', cfg: { services: { a: { name: 'pg', volumeMounts: { v: { mountPath: '/data' } } } } } },
    mutations: ['templateDeployV2'],
  },
  {
    name: 'Int argument through a variable and a block string',
    query: 'mutation ($port: Int) { customDomainUpdate(id: "cd1", environmentId: "e1", targetPort: $port) environmentPatchCommitStaged(environmentId: "e1", commitMessage: """multi\n  line "quoted" """) }',
    variables: { port: 8080 },
    mutations: ['customDomainUpdate', 'environmentPatchCommitStaged'],
  },
  {
    name: 'environmentStageChanges with merge defaulted via variable and a JSON input',
    query: 'mutation ($m: Boolean = true, $in: EnvironmentConfig!) { environmentStageChanges(environmentId: "e1", input: $in, merge: $m) { id } }',
    variables: { in: { volumes: { v1: { isDeleted: true } } } },
    mutations: ['environmentStageChanges'],
  },
  {
    name: 'serviceInstanceUpdate: nested input object variable, single-value list field',
    query: 'mutation ($cred: RegistryCredentialsInput) { serviceInstanceUpdate(serviceId: "s1", input: {watchPatterns: "src/**", registryCredentials: $cred, builder: NIXPACKS, numReplicas: 0}) }',
    variables: { cred: { username: 'u', password: 'p' } },
    mutations: ['serviceInstanceUpdate'],
  },
  {
    name: 'deep inline nesting with alternating directives',
    query:
      'mutation ($t: Boolean!, $f: Boolean!) { ... @include(if: $t) { ... on Mutation @skip(if: $f) { ... { a: deploymentRemove(id: "d1") ... @skip(if: $t) { b: deploymentRollback(id: "d2") } } } } }',
    variables: { t: true, f: false },
    mutations: ['deploymentRemove'],
  },
  {
    name: 'deprecated mutation still executes',
    query: 'mutation { pluginDelete(id: "pl1", environmentId: "e1") }',
    mutations: ['pluginDelete'],
  },
  {
    name: 'ID argument given a string',
    query: 'mutation ($id: ID!) { cloudAgentDelete(id: $id) sandboxCheckpointDelete(id: "c1", environmentId: "e1") }',
    variables: { id: 'agent-1' },
    mutations: ['cloudAgentDelete', 'sandboxCheckpointDelete'],
  },
  // -- documents where the extractor may report more than graphql-js runs ------------------------
  {
    name: 'directive variable explicitly null over its default: cannot evaluate (conditional), graphql-js refuses',
    query: 'mutation ($s: Boolean = true) { volumeDelete(volumeId: "v1") @skip(if: $s) projectDelete(id: "p1") }',
    variables: { s: null },
    conditional: true,
  },
  {
    name: 'required directive variable not provided: conditional, graphql-js refuses',
    query: 'mutation ($i: Boolean!) { ...F @include(if: $i) } fragment F on Mutation { projectDelete(id: "p1") }',
    variables: {},
    conditional: true,
  },
  {
    name: 'explicit null over a default, into a non-null argument: graphql-js refuses, extractor reports',
    query: 'mutation ($id: String = "v1") { volumeDelete(volumeId: $id) }',
    variables: { id: null },
    executorRefuses: true,
  },
  {
    name: 'required variable missing: graphql-js refuses, extractor reports',
    query: 'mutation ($id: String!) { volumeDelete(volumeId: $id) }',
    executorRefuses: true,
  },
  {
    name: 'first root field refused: serial execution stops, extractor still reports the later ones',
    query: 'mutation ($id: String = "v1") { volumeDelete(volumeId: $id) projectDelete(id: "p1") }',
    variables: { id: null },
    executorRefuses: true,
  },
];

// ---------------------------------------------------------------------------------------------
// Generated corpus
// ---------------------------------------------------------------------------------------------

const SEED = 0x5c09e6a7;
const GENERATED_COUNT = 250;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }
}

interface OpBuild {
  root: GraphQLObjectType;
  varDefs: string[];
}

interface Generated extends Entry {
  selections: number;
  directives: number;
  crossAliases: number;
}

const STRINGS = ['svc-1', 'env-42', 'prj_7', 'with "quotes"', 'unicodé ✓', 'line\nbreak', '', 'a\\b', '00000000-0000-0000-0000-000000000000'];

class DocGen {
  private counter = 0;
  readonly variables: Record<string, unknown> = {};
  readonly fragments: string[] = [];
  readonly usedKeys = new Set<string>();
  selections = 0;
  directives = 0;
  crossAliases = 0;
  nullDirective = false;

  constructor(private readonly r: Rng) {}

  private str(): string {
    return `${this.r.pick(STRINGS)}${this.r.chance(0.5) ? `-${this.r.int(1000)}` : ''}`;
  }

  private jsonValue(depth: number): unknown {
    const n = this.r.int(depth > 1 ? 3 : 6);
    if (n === 0) return this.str();
    if (n === 1) return this.r.int(100);
    if (n === 2) return this.r.chance(0.5);
    if (n === 3) return [this.str(), this.r.int(9)];
    if (n === 4) return null;
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 1 + this.r.int(3); i++) o[`k${i}_${this.r.int(50)}`] = this.jsonValue(depth + 1);
    return o;
  }

  /**
   * GraphQL literal of an untyped JSON value (for custom scalars); when op is given, a nested value
   * may be a variable (its position has no input type, so any variable type validates there).
   */
  private jsonLiteral(v: unknown, op: OpBuild | null, nested = false): string {
    if (op && nested && this.r.chance(0.15)) {
      const name = `v${this.counter++}`;
      op.varDefs.push(`$${name}: String`);
      if (this.r.chance(0.7)) this.variables[name] = this.str();
      return `$${name}`;
    }
    if (v === null) return 'null';
    if (Array.isArray(v)) return `[${v.map((x) => this.jsonLiteral(x, op, true)).join(', ')}]`;
    if (typeof v === 'object') {
      return `{${Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => `${k}: ${this.jsonLiteral(x, op, true)}`)
        .join(', ')}}`;
    }
    return JSON.stringify(v);
  }

  /** A JS value of an input type (what a client puts in `variables`). */
  value(t: GraphQLInputType): unknown {
    if (isNonNullType(t)) return this.bareValue(t.ofType as GraphQLInputType);
    if (this.r.chance(0.07)) return null;
    return this.bareValue(t);
  }

  private bareValue(t: GraphQLInputType): unknown {
    if (isListType(t)) {
      const item = t.ofType as GraphQLInputType;
      if (this.r.chance(0.3)) return this.value(item); // single value: list coercion
      return Array.from({ length: this.r.int(4) }, () => this.value(item));
    }
    if (isInputObjectType(t)) {
      const o: Record<string, unknown> = {};
      for (const f of Object.values(t.getFields())) {
        const required = isNonNullType(f.type) && f.defaultValue === undefined;
        if (required || this.r.chance(0.35)) o[f.name] = this.value(f.type);
      }
      return o;
    }
    if (isEnumType(t)) return this.r.pick(t.getValues()).value;
    return this.scalarValue(t.name);
  }

  private scalarValue(name: string): unknown {
    switch (name) {
      case 'Int':
        return this.r.int(70000);
      case 'Float':
        return this.r.int(100) + 0.5;
      case 'Boolean':
        return this.r.chance(0.5);
      case 'String':
      case 'ID':
        return this.str();
      case 'DateTime':
        return `2025-0${1 + this.r.int(9)}-1${this.r.int(9)}T10:00:00.000Z`;
      default:
        return this.r.chance(0.15) ? this.str() : (this.jsonValue(2) ?? {});
    }
  }

  /** GraphQL literal of a JS value of an input type. */
  private constLiteral(v: unknown, t: GraphQLInputType): string {
    if (v === null) return 'null';
    const nt = isNonNullType(t) ? (t.ofType as GraphQLInputType) : t;
    if (isListType(nt)) {
      const item = nt.ofType as GraphQLInputType;
      return Array.isArray(v) ? `[${v.map((x) => this.constLiteral(x, item)).join(', ')}]` : this.constLiteral(v, item);
    }
    if (isInputObjectType(nt)) {
      const fields = nt.getFields();
      return `{${Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => `${k}: ${this.constLiteral(x, fields[k]!.type)}`)
        .join(', ')}}`;
    }
    if (isEnumType(nt)) return String(v);
    if (isScalarType(nt) && !['Int', 'Float', 'Boolean', 'String', 'ID', 'DateTime'].includes(nt.name)) return this.jsonLiteral(v, null);
    return JSON.stringify(v);
  }

  /** A literal (possibly holding variables) for an argument or input-field position of type t. */
  literal(t: GraphQLInputType, op: OpBuild): string {
    if (this.r.chance(0.25)) return this.variable(t, op);
    if (isNonNullType(t)) return this.bareLiteral(t.ofType as GraphQLInputType, op);
    if (this.r.chance(0.07)) return 'null';
    return this.bareLiteral(t, op);
  }

  private bareLiteral(t: GraphQLInputType, op: OpBuild): string {
    if (isListType(t)) {
      const item = t.ofType as GraphQLInputType;
      if (this.r.chance(0.3)) return this.literal(item, op); // single value: list coercion
      return `[${Array.from({ length: this.r.int(4) }, () => this.literal(item, op)).join(', ')}]`;
    }
    if (isInputObjectType(t)) {
      const parts: string[] = [];
      for (const f of Object.values(t.getFields())) {
        const required = isNonNullType(f.type) && f.defaultValue === undefined;
        if (required || this.r.chance(0.35)) parts.push(`${f.name}: ${this.literal(f.type, op)}`);
      }
      return `{${parts.join(', ')}}`;
    }
    if (isScalarType(t) && !['Int', 'Float', 'Boolean', 'String', 'ID', 'DateTime'].includes(t.name)) {
      return this.jsonLiteral(this.scalarValue(t.name), op);
    }
    return this.constLiteral(this.bareValue(t), t);
  }

  /** Declare a variable for a position of type t; maybe with a default; maybe provided, maybe null. */
  private variable(t: GraphQLInputType, op: OpBuild): string {
    const name = `v${this.counter++}`;
    if (this.r.chance(0.4)) {
      // a nullable variable with a non-null default may stand in a non-null position
      const declType = isNonNullType(t) && this.r.chance(0.6) ? (t.ofType as GraphQLInputType) : t;
      const nullable = isNonNullType(declType) ? (declType.ofType as GraphQLInputType) : declType;
      op.varDefs.push(`$${name}: ${String(declType)} = ${this.constLiteral(this.bareValue(nullable), nullable)}`);
      const x = this.r.float();
      if (x < 0.45) {
        /* absent: the default applies */
      } else if (x < 0.85 || isNonNullType(t)) this.variables[name] = this.bareValue(nullable);
      else this.variables[name] = null; // explicit null overrides the default
    } else {
      op.varDefs.push(`$${name}: ${String(t)}`);
      const x = this.r.float();
      if (isNonNullType(t) || x < 0.7) this.variables[name] = this.value(t);
      else if (x < 0.85) this.variables[name] = null;
    }
    return `$${name}`;
  }

  private directive(op: OpBuild): string {
    if (!this.r.chance(0.3)) return '';
    const kinds = this.r.chance(0.15) ? ['skip', 'include'] : [this.r.pick(['skip', 'include'])];
    if (this.r.chance(0.5)) kinds.reverse();
    this.directives++;
    return kinds
      .map((k) => {
        const x = this.r.float();
        let cond: string;
        if (x < 0.35) cond = String(this.r.chance(0.5));
        else {
          const name = `c${this.counter++}`;
          cond = `$${name}`;
          if (x < 0.75) {
            op.varDefs.push(`$${name}: Boolean!`);
            this.variables[name] = this.r.chance(0.5);
          } else if (x < 0.97) {
            op.varDefs.push(`$${name}: Boolean = ${String(this.r.chance(0.5))}`);
            if (this.r.chance(0.5)) this.variables[name] = this.r.chance(0.5);
          } else {
            // explicit null over the default: neither side can evaluate it
            op.varDefs.push(`$${name}: Boolean = true`);
            this.variables[name] = null;
            this.nullDirective = true;
          }
        }
        return ` @${k}(if: ${cond})`;
      })
      .join('');
  }

  private key(field: string): string | null {
    const wantAlias = this.r.chance(0.35) || this.usedKeys.has(field);
    if (!wantAlias) {
      this.usedKeys.add(field);
      return null;
    }
    let alias: string;
    if (this.r.chance(0.5)) {
      // an alias that names another mutation
      const others = Object.keys(MUTATION.getFields()).filter((n) => n !== field && !this.usedKeys.has(n));
      alias = this.r.pick(others);
      this.crossAliases++;
    } else {
      do alias = `a${this.counter++}`;
      while (this.usedKeys.has(alias));
    }
    this.usedKeys.add(alias);
    return alias;
  }

  field(op: OpBuild, withDirectives: boolean): string {
    const f = this.r.pick(Object.values(op.root.getFields()));
    const alias = this.key(f.name);
    const args: string[] = [];
    for (const a of f.args) {
      const required = isNonNullType(a.type) && a.defaultValue === undefined;
      if (required || this.r.chance(0.4)) args.push(`${a.name}: ${this.literal(a.type, op)}`);
    }
    const sub = isLeafType(getNamedType(f.type)) ? '' : ' { __typename }';
    this.selections++;
    return `${alias ? `${alias}: ` : ''}${f.name}${args.length ? `(${args.join(', ')})` : ''}${withDirectives ? this.directive(op) : ''}${sub}`;
  }

  wrap(sel: string, op: OpBuild, depth: number): string {
    if (depth >= 3 || this.r.chance(0.5)) return sel;
    if (this.r.chance(0.5)) {
      const cond = this.r.chance(0.5) ? ` on ${op.root.name}` : '';
      return `...${cond}${this.directive(op)} { ${this.wrap(sel, op, depth + 1)} }`;
    }
    const name = `F${this.counter++}`;
    this.fragments.push(`fragment ${name} on ${op.root.name} { ${this.wrap(sel, op, depth + 1)} }`);
    return `...${name}${this.directive(op)}`;
  }

  operation(kind: 'mutation' | 'query' | 'subscription', name: string | null): string {
    const op: OpBuild = { root: kind === 'mutation' ? MUTATION : kind === 'query' ? QUERY : SUBSCRIPTION, varDefs: [] };
    let body: string;
    if (kind === 'subscription') {
      body = this.field(op, false); // exactly one plain root field
    } else {
      const sels = Array.from({ length: 1 + this.r.int(4) }, () => this.field(op, true));
      if (kind === 'mutation' && this.r.chance(0.1)) sels.splice(this.r.int(sels.length + 1), 0, `__typename${this.directive(op)}`);
      const groups: string[] = [];
      for (let i = 0; i < sels.length; ) {
        const n = this.r.chance(0.25) ? 2 : 1;
        groups.push(this.wrap(sels.slice(i, i + n).join(' '), op, 0));
        i += n;
      }
      body = groups.join(' ');
    }
    const vars = op.varDefs.length ? `(${op.varDefs.join(', ')})` : '';
    const head = name ? `${kind} ${name}${vars}` : `${kind}${vars ? ` ${vars}` : ''}`;
    return `${head} { ${body} }`;
  }
}

function generateCorpus(seed: number, count: number): Generated[] {
  const r = new Rng(seed);
  const out: Generated[] = [];
  for (let i = 0; i < count; i++) {
    const g = new DocGen(r);
    const second = r.chance(0.35) ? r.pick(['mutation', 'mutation', 'query', 'subscription'] as const) : null;
    const ops = [g.operation('mutation', second || r.chance(0.5) ? `Op${i}` : null)];
    if (second) ops.push(g.operation(second, `Second${i}`));
    if (r.chance(0.5)) ops.reverse();
    out.push({
      name: `generated #${i}`,
      query: [...ops, ...g.fragments].join('\n'),
      variables: g.variables,
      mayRefuse: g.nullDirective,
      selections: g.selections,
      directives: g.directives,
      crossAliases: g.crossAliases,
    });
  }
  return out;
}

const GENERATED = generateCorpus(SEED, GENERATED_COUNT);

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('differential: extractor vs graphql-js execution, hand-written corpus', () => {
  for (const entry of HAND) {
    it(entry.name, async () => {
      await differential(entry);
    });
  }

  it('hand-written corpus is large enough and directive variables provided are never conditional', () => {
    expect(HAND.length).toBeGreaterThanOrEqual(30);
    for (const e of HAND) {
      const usesDirectiveVariable = /@(skip|include)\(if: \$/.test(e.query);
      if (usesDirectiveVariable && e.conditional !== true) {
        const analysis = analyseDocument(e.query, e.variables);
        expect(analysis.ok && analysis.fields.every((f) => !f.conditional), e.name).toBe(true);
      }
    }
  });

  // BUG (extractor reports a wrong argument value): an ID argument given an Int literal or an
  // integer variable value. graphql-js coerces it to the string "123" (ID input coercion); the
  // extractor has no schema and reports the number 123 (valueFromASTUntyped / the raw variable).
  // Affected subset fields: cloudAgentDelete(id: ID!), sandboxCheckpointDelete(id: ID!).
  // classify.ts JSON.stringify()s a non-string target id, which happens to give "123" as well,
  // so judging is not misled today, but RootField.args is not "the arguments as the executor sees them".
  it.fails('ID argument given an Int literal: executed "123", extractor reports 123', async () => {
    await differential({ name: 'ID int literal', query: 'mutation { cloudAgentDelete(id: 123) }', mutations: ['cloudAgentDelete'] });
  });
  it.fails('ID variable given an integer value: executed "42", extractor reports 42', async () => {
    await differential({
      name: 'ID int variable',
      query: 'mutation ($id: ID!) { sandboxCheckpointDelete(id: $id, environmentId: "e1") }',
      variables: { id: 42 },
      mutations: ['sandboxCheckpointDelete'],
    });
  });
});

describe('differential: extractor vs graphql-js execution, generated corpus', () => {
  it(`all ${GENERATED_COUNT} generated documents pass graphql-js validate() against the subset`, () => {
    const invalid = GENERATED.filter((g) => validate(schema, parse(g.query)).length > 0);
    expect(invalid.map((g) => `${g.name}: ${validate(schema, parse(g.query))[0]?.message}\n${g.query}`)).toEqual([]);
    expect(GENERATED.length - invalid.length).toBeGreaterThanOrEqual(100);
  });

  for (const entry of GENERATED) {
    it(entry.name, async () => {
      await differential(entry);
    });
  }

  it('the generated corpus exercises what it claims to (not vacuous)', async () => {
    let mutationCalls = 0;
    let selections = 0;
    let coercedArgs = 0;
    let strictArgs = 0;
    let conditional = 0;
    let multiOp = 0;
    for (const g of GENERATED) {
      const o = await differential(g);
      mutationCalls += o.mutationCalls;
      selections += g.selections;
      coercedArgs += o.coercedArgs;
      strictArgs += o.strictArgs;
      if (o.conditional) conditional++;
      if (parse(g.query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length > 1) multiOp++;
    }
    const stats = {
      documents: GENERATED.length,
      selections,
      mutationCalls,
      strictArgs,
      coercedArgs,
      conditional,
      multiOp,
      withDirectives: GENERATED.filter((g) => g.directives > 0).length,
      withFragments: GENERATED.filter((g) => /\bfragment F/.test(g.query)).length,
      crossAliases: GENERATED.reduce((n, g) => n + g.crossAliases, 0),
    };
    console.info('differential generated corpus:', JSON.stringify(stats));
    expect(mutationCalls).toBeGreaterThan(150);
    expect(selections).toBeGreaterThan(mutationCalls); // some selections were skipped by directives
    expect(coercedArgs).toBeGreaterThan(10);
    expect(strictArgs).toBeGreaterThan(100);
    expect(multiOp).toBeGreaterThan(20);
    expect(stats.withDirectives).toBeGreaterThan(30);
    expect(stats.withFragments).toBeGreaterThan(30);
    expect(stats.crossAliases).toBeGreaterThan(20);
  });
});
