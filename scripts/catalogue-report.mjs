#!/usr/bin/env node
// Checks src/providers/railway/catalogue.json against a Railway GraphQL schema.
//
//   node scripts/catalogue-report.mjs [SCHEMA] [--catalogue PATH]
//
// SCHEMA is an introspection result (JSON, `{"data":{"__schema":…}}` or `{"__schema":…}`) or an SDL
// file (.graphql / .gql / .graphqls). Default: ../shared/railway/schema.json relative to the project root.
//
// Prints: schema mutations missing from the catalogue, catalogue entries not in the schema, argument
// paths (target.id, target.with.*, payload.path) that do not exist in the mutation's arguments (input
// object fields are walked through lists and non-null wrappers), and entries whose values are outside
// the catalogue vocabulary. Exit 0 when everything is clean, 1 otherwise, 2 on a usage or read error.

import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClientSchema, buildSchema, getNamedType, isInputObjectType } from 'graphql';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const CLASSES = new Set([
  'read', 'create', 'modify', 'deploy', 'destructive', 'destructive-irreversible', 'credential', 'benign',
]);
const TARGET_TYPES = new Set([
  'workspace', 'project', 'environment', 'service', 'serviceInstance', 'volume', 'volumeInstance',
  'volumeBackup', 'deployment', 'variable', 'domain', 'customDomain', 'serviceDomain', 'tcpProxy',
  'deploymentTrigger', 'bucket', 'plugin', 'template', 'token', 'member', 'user', 'network',
  'egressGateway', 'webhook', 'integration', 'other',
]);
const WITH_ROLES = new Set([
  'environmentId', 'projectId', 'serviceId', 'volumeId', 'volumeInstanceId', 'workspaceId', 'name',
]);
const REACHES = new Set(['project', 'non-fork-environments', 'all-instances-without-environment', 'workspace']);
const PAYLOAD_KINDS = new Set([
  'environment-patch', 'staged-patch', 'change-set', 'variables-replace', 'backup-restore', 'state-change', 'other',
]);
const FLAGS = new Set(['XENV', 'IND', 'SEC', 'EXEC']);
const ENTRY_FIELDS = new Set(['class', 'target', 'reach', 'payload', 'flags', 'note']);

function usage(message) {
  if (message) console.error(message);
  console.error('usage: node scripts/catalogue-report.mjs [SCHEMA.json|SCHEMA.graphql] [--catalogue PATH]');
  process.exit(2);
}

function parseArgs(argv) {
  let schemaPath;
  let cataloguePath = resolve(root, 'src/providers/railway/catalogue.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') usage();
    else if (a === '--catalogue') {
      if (!argv[i + 1]) usage('--catalogue needs a path');
      cataloguePath = resolve(argv[++i]);
    } else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (schemaPath) usage('only one SCHEMA path is accepted');
    else schemaPath = resolve(a);
  }
  return { schemaPath: schemaPath ?? resolve(root, '../shared/railway/schema.json'), cataloguePath };
}

function loadSchema(path) {
  const text = readFileSync(path, 'utf8');
  if (['.graphql', '.gql', '.graphqls', '.sdl'].includes(extname(path).toLowerCase())) return buildSchema(text);
  const json = JSON.parse(text);
  const introspection = json.data ?? json;
  if (!introspection.__schema) throw new Error(`${path}: no __schema in this JSON`);
  return buildClientSchema(introspection);
}

/** Returns null when `path` names an argument (then input-object fields) of `field`, else the reason. */
function checkPath(field, path) {
  if (typeof path !== 'string' || path === '') return 'not a non-empty string';
  const [argName, ...rest] = path.split('.');
  const arg = field.args.find((a) => a.name === argName);
  if (!arg) return `no argument "${argName}"`;
  let type = arg.type;
  let walked = argName;
  for (const segment of rest) {
    const named = getNamedType(type);
    if (!isInputObjectType(named)) return `"${walked}" is ${named.name}, not an input object, so it has no field "${segment}"`;
    const f = named.getFields()[segment];
    if (!f) return `input ${named.name} (at "${walked}") has no field "${segment}"`;
    type = f.type;
    walked += `.${segment}`;
  }
  return null;
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Vocabulary checks: everything a consumer of the catalogue relies on besides the schema paths. */
function checkEntry(entry) {
  const problems = [];
  if (!isPlainObject(entry)) return ['entry is not an object'];
  for (const k of Object.keys(entry)) if (!ENTRY_FIELDS.has(k)) problems.push(`unknown field "${k}"`);
  if (!CLASSES.has(entry.class)) problems.push(`class ${JSON.stringify(entry.class)} is not one of ${[...CLASSES].join(', ')}`);
  if (!('target' in entry)) problems.push('target is missing (use null when there is none)');
  else if (entry.target !== null) {
    const t = entry.target;
    if (!isPlainObject(t)) problems.push('target is neither null nor an object');
    else {
      for (const k of Object.keys(t)) if (!['type', 'id', 'with'].includes(k)) problems.push(`target has unknown field "${k}"`);
      if (!TARGET_TYPES.has(t.type)) problems.push(`target.type ${JSON.stringify(t.type)} is not a known resource type`);
      if (typeof t.id !== 'string') problems.push('target.id is missing');
      if (t.with !== undefined) {
        if (!isPlainObject(t.with)) problems.push('target.with is not an object');
        else for (const role of Object.keys(t.with)) if (!WITH_ROLES.has(role)) problems.push(`target.with role "${role}" is unknown`);
      }
    }
  }
  if (entry.reach !== undefined && !REACHES.has(entry.reach)) problems.push(`reach ${JSON.stringify(entry.reach)} is unknown`);
  if (entry.payload !== undefined) {
    if (!isPlainObject(entry.payload)) problems.push('payload is not an object');
    else {
      if (!PAYLOAD_KINDS.has(entry.payload.kind)) problems.push(`payload.kind ${JSON.stringify(entry.payload.kind)} is unknown`);
      if (typeof entry.payload.path !== 'string') problems.push('payload.path is missing');
    }
  }
  if (entry.flags !== undefined) {
    if (!Array.isArray(entry.flags)) problems.push('flags is not an array');
    else {
      for (const f of entry.flags) if (!FLAGS.has(f)) problems.push(`flag ${JSON.stringify(f)} is unknown`);
      if (new Set(entry.flags).size !== entry.flags.length) problems.push('flags has duplicates');
    }
  }
  if (entry.note !== undefined && typeof entry.note !== 'string') problems.push('note is not a string');
  return problems;
}

function main() {
  const { schemaPath, cataloguePath } = parseArgs(process.argv.slice(2));
  let schema;
  let catalogue;
  try {
    schema = loadSchema(schemaPath);
    catalogue = JSON.parse(readFileSync(cataloguePath, 'utf8'));
  } catch (err) {
    console.error(`error: ${err.message}`);
    process.exit(2);
  }
  const mutationType = schema.getMutationType();
  if (!mutationType) {
    console.error(`error: ${schemaPath} has no mutation type`);
    process.exit(2);
  }
  const fields = mutationType.getFields();
  const entries = isPlainObject(catalogue.mutations) ? catalogue.mutations : {};

  const missing = Object.keys(fields).filter((n) => !Object.hasOwn(entries, n)).sort();
  const extra = Object.keys(entries).filter((n) => !Object.hasOwn(fields, n)).sort();

  const badPaths = [];
  const invalid = [];
  if (!isPlainObject(catalogue.mutations)) invalid.push('catalogue: "mutations" is not an object');
  const names = Object.keys(entries);
  const sorted = [...names].sort();
  if (names.some((n, i) => n !== sorted[i])) invalid.push('catalogue: mutation keys are not sorted by name');

  for (const name of names) {
    const entry = entries[name];
    for (const p of checkEntry(entry)) invalid.push(`${name}: ${p}`);
    const field = fields[name];
    if (!field || !isPlainObject(entry)) continue;
    const paths = [];
    if (isPlainObject(entry.target)) {
      if (typeof entry.target.id === 'string') paths.push(['target.id', entry.target.id]);
      if (isPlainObject(entry.target.with)) {
        for (const [role, p] of Object.entries(entry.target.with)) paths.push([`target.with.${role}`, p]);
      }
    }
    if (isPlainObject(entry.payload) && entry.payload.path !== undefined) paths.push(['payload.path', entry.payload.path]);
    for (const [where, p] of paths) {
      const why = checkPath(field, p);
      if (why) badPaths.push(`${name}: ${where} = ${JSON.stringify(p)}: ${why}`);
    }
  }

  const section = (title, items) => {
    console.log(`${title}: ${items.length}`);
    for (const i of items) console.log(`  ${i}`);
  };
  console.log(`schema:    ${schemaPath} (${Object.keys(fields).length} mutations)`);
  console.log(`catalogue: ${cataloguePath} (${names.length} entries)`);
  section('Mutations in the schema missing from the catalogue', missing);
  section('Catalogue entries not in the schema', extra);
  section('Catalogue argument paths not in the schema', badPaths);
  section('Catalogue entries with invalid values', invalid);

  const counts = {};
  for (const name of names) {
    const c = entries[name]?.class;
    counts[c] = (counts[c] ?? 0) + 1;
  }
  console.log('Classes: ' + Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', '));

  const clean = missing.length + extra.length + badPaths.length + invalid.length === 0;
  console.log(clean ? 'OK' : 'FAILED');
  process.exit(clean ? 0 : 1);
}

main();
