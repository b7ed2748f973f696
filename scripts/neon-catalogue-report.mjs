#!/usr/bin/env node
// Checks src/providers/neon/catalogue.json against a Neon OpenAPI document.
//
//   node scripts/neon-catalogue-report.mjs [OPENAPI.yaml|.json] [--catalogue PATH]
//
// Default document: ../shared/neon/openapi.yaml relative to the project root (a verbatim copy of
// Neon's public API v2). Prints: operations of the document missing from the catalogue, catalogue
// entries the document no longer has (stale), entries whose method or path template differ from
// the document's, argument paths (target.id, target.with.*, effects) naming a path or query
// parameter the operation does not have, and values outside the catalogue vocabulary.
// Exit 0 when everything is clean, 1 otherwise, 2 on a usage or read error.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLASSES = new Set(['read', 'benign', 'create', 'modify', 'deploy', 'destructive-recoverable', 'destructive-irreversible', 'credential', 'unknown']);
const TARGET_TYPES = new Set(['account', 'organization', 'project', 'branch', 'endpoint', 'snapshot']);
const REACHES = new Set(['account', 'organization', 'project', 'new-branch', 'branch', 'endpoint', 'snapshot']);
const PAYLOAD_KINDS = new Set(['branch-restore', 'branch-update', 'project-update', 'snapshot-restore', 'auth-disable']);
const FLAGS = new Set(['SEC']);
const ENTRY_FIELDS = new Set(['method', 'path', 'class', 'target', 'reach', 'effects', 'payload', 'flags', 'note']);
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function usage(message) {
  if (message) console.error(message);
  console.error('usage: node scripts/neon-catalogue-report.mjs [OPENAPI.yaml] [--catalogue PATH]');
  process.exit(2);
}

let docPath;
let cataloguePath = resolve(root, 'src/providers/neon/catalogue.json');
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '-h' || a === '--help') usage();
  else if (a === '--catalogue') {
    if (!argv[i + 1]) usage('--catalogue needs a path');
    cataloguePath = resolve(argv[++i]);
  } else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (docPath) usage('only one OPENAPI path is accepted');
  else docPath = resolve(a);
}
docPath ??= resolve(root, '../shared/neon/openapi.yaml');

let doc, catalogue;
try {
  doc = YAML.parse(readFileSync(docPath, 'utf8'));
} catch (err) {
  console.error(`cannot read the OpenAPI document ${docPath}: ${err.message}`);
  process.exit(2);
}
try {
  catalogue = JSON.parse(readFileSync(cataloguePath, 'utf8')).operations;
} catch (err) {
  console.error(`cannot read the catalogue ${cataloguePath}: ${err.message}`);
  process.exit(2);
}
if (!doc || typeof doc.paths !== 'object') {
  console.error(`${docPath} has no paths: is it an OpenAPI document?`);
  process.exit(2);
}

const resolveRef = (p) => (p && p.$ref ? p.$ref.split('/').slice(1).reduce((o, k) => o?.[k], doc) : p);
const ops = new Map();
for (const [path, item] of Object.entries(doc.paths)) {
  for (const m of METHODS) {
    const op = item[m];
    if (!op) continue;
    const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(resolveRef).filter(Boolean);
    const id = op.operationId ?? `${m.toUpperCase()} ${path}`;
    ops.set(id, { method: m.toUpperCase(), path, pathParams: new Set(params.filter((p) => p.in === 'path').map((p) => p.name)), queryParams: new Set(params.filter((p) => p.in === 'query').map((p) => p.name)) });
  }
}

const missing = [...ops.keys()].filter((id) => !catalogue[id]).sort();
const stale = Object.keys(catalogue).filter((id) => !ops.has(id)).sort();
const moved = [];
const badPaths = [];
const vocabulary = [];
for (const [id, e] of Object.entries(catalogue)) {
  for (const k of Object.keys(e)) if (!ENTRY_FIELDS.has(k)) vocabulary.push(`${id}: unknown field ${k}`);
  if (!CLASSES.has(e.class)) vocabulary.push(`${id}: class ${e.class}`);
  if (e.target && !TARGET_TYPES.has(e.target.type)) vocabulary.push(`${id}: target type ${e.target.type}`);
  if (e.reach !== undefined && !REACHES.has(e.reach)) vocabulary.push(`${id}: reach ${e.reach}`);
  if (e.payload && !PAYLOAD_KINDS.has(e.payload.kind)) vocabulary.push(`${id}: payload kind ${e.payload.kind}`);
  for (const f of e.flags ?? []) if (!FLAGS.has(f)) vocabulary.push(`${id}: flag ${f}`);
  if (e.class !== 'read' && !e.target) vocabulary.push(`${id}: a ${e.class} operation needs a target`);
  const op = ops.get(id);
  if (!op) continue;
  if (op.method !== e.method || op.path !== e.path) moved.push(`${id}: catalogue ${e.method} ${e.path}, document ${op.method} ${op.path}`);
  const argPaths = [e.target?.id, ...Object.values(e.target?.with ?? {}), ...(e.effects ?? [])].filter((p) => typeof p === 'string');
  for (const p of argPaths) {
    const [where, name] = p.split('.');
    if (where === 'path' && !op.pathParams.has(name)) badPaths.push(`${id}: ${p} (path parameters: ${[...op.pathParams].join(', ') || 'none'})`);
    else if (where === 'query' && !op.queryParams.has(name)) badPaths.push(`${id}: ${p} (query parameters: ${[...op.queryParams].join(', ') || 'none'})`);
    else if (where !== 'path' && where !== 'query' && where !== 'body') badPaths.push(`${id}: ${p} is not path.*, query.* or body.*`);
  }
}

const section = (title, items) => {
  console.log(`${title}: ${items.length}`);
  for (const x of items) console.log(`  ${x}`);
};
console.log(`document: ${docPath} (${ops.size} operations)`);
console.log(`catalogue: ${cataloguePath} (${Object.keys(catalogue).length} entries)`);
section('missing from the catalogue', missing);
section('stale (not in the document)', stale);
section('method or path differs', moved);
section('argument paths that do not exist', badPaths);
section('outside the vocabulary', vocabulary);
const clean = missing.length + stale.length + moved.length + badPaths.length + vocabulary.length === 0;
console.log(clean ? 'OK' : 'NOT OK');
process.exit(clean ? 0 : 1);
