import type { RootField } from '../../graphql/document.js';
import { worseClass, type Operation, type OperationClass, type Target } from '../../inspect/operation.js';

/** One catalogue entry, as `catalogue.json` stores it. */
export interface CatalogueEntry {
  class: 'read' | 'create' | 'modify' | 'deploy' | 'destructive' | 'destructive-irreversible' | 'credential' | 'benign';
  target: { type: string; id: string; with?: Record<string, string> } | null;
  reach?: string;
  payload?: { kind: string; path: string };
  flags?: string[];
  note?: string;
}

export interface Catalogue {
  mutations: Record<string, CatalogueEntry>;
}

/** Read a dotted argument path ("input.environmentId") out of the executed argument values. */
export function argAt(args: Record<string, unknown>, path: string): unknown {
  let cur: unknown = args;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

const CLASS_OF: Record<CatalogueEntry['class'], OperationClass> = {
  read: 'read',
  benign: 'benign',
  create: 'create',
  modify: 'modify',
  deploy: 'deploy',
  destructive: 'destructive-recoverable',
  'destructive-irreversible': 'destructive-irreversible',
  credential: 'credential',
};


/** JSON scalars may arrive as objects or as JSON text; the server reads both. */
function jsonValue(v: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof v !== 'string') return { ok: true, value: v };
  try {
    return { ok: true, value: JSON.parse(v) };
  } catch {
    return { ok: false };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * What an EnvironmentConfig patch would apply: `isDeleted: true` on a service, volume or bucket
 * destroys it; a null variable, shared variable or networking entry removes that entry.
 */
export function classifyEnvironmentPatch(patch: unknown): { class: OperationClass; reason: string } {
  if (!isObject(patch)) return { class: 'unknown', reason: 'the environment patch is not an object' };
  const deleted: string[] = [];
  const removed: string[] = [];
  for (const kind of ['services', 'volumes', 'buckets']) {
    const group = patch[kind];
    if (group === undefined || group === null) continue;
    if (!isObject(group)) return { class: 'unknown', reason: `the patch's ${kind} is not an object` };
    for (const [id, entry] of Object.entries(group)) {
      if (entry === null) {
        deleted.push(`${kind}.${id}`);
        continue;
      }
      if (!isObject(entry)) continue;
      if (entry['isDeleted'] === true) deleted.push(`${kind}.${id}`);
      for (const sub of ['variables']) {
        const vars = entry[sub];
        if (isObject(vars)) for (const [name, v] of Object.entries(vars)) if (v === null || (isObject(v) && v['isDeleted'] === true)) removed.push(`${kind}.${id}.${sub}.${name}`);
      }
      const networking = entry['networking'];
      if (isObject(networking)) {
        for (const [group2, items] of Object.entries(networking)) {
          if (isObject(items)) for (const [k, v] of Object.entries(items)) if (v === null) removed.push(`${kind}.${id}.networking.${group2}.${k}`);
        }
      }
      if (isObject(entry['volumeMounts'])) {
        for (const [k, v] of Object.entries(entry['volumeMounts'] as Record<string, unknown>)) if (v === null) removed.push(`${kind}.${id}.volumeMounts.${k}`);
      }
    }
  }
  const shared = patch['sharedVariables'];
  if (isObject(shared)) for (const [name, v] of Object.entries(shared)) if (v === null) removed.push(`sharedVariables.${name}`);
  if (deleted.length > 0) return { class: 'destructive-irreversible', reason: `the patch deletes ${deleted.slice(0, 5).join(', ')}` };
  if (removed.length > 0) return { class: 'destructive-recoverable', reason: `the patch removes ${removed.slice(0, 5).join(', ')}` };
  return { class: 'modify', reason: 'the patch deletes nothing' };
}

/** environmentApplyChangeSet: a change of kind resource.delete destroys a resource. */
export function classifyChangeSet(input: unknown): { class: OperationClass; reason: string } {
  if (!isObject(input)) return { class: 'unknown', reason: 'the change set is not an object' };
  const changes = input['changes'];
  if (!Array.isArray(changes)) return { class: 'unknown', reason: 'the change set has no changes list' };
  const deletes = changes.filter((c) => isObject(c) && typeof c['kind'] === 'string' && /delete|remove/i.test(c['kind'] as string));
  const unreadable = changes.some((c) => !isObject(c) || typeof c['kind'] !== 'string');
  if (unreadable) return { class: 'unknown', reason: 'a change in the change set has no kind' };
  if (deletes.length > 0) return { class: 'destructive-irreversible', reason: `the change set deletes ${deletes.length} resource(s)` };
  return { class: 'modify', reason: 'the change set deletes nothing' };
}

/**
 * Classify a root field from the catalogue, then by its payload where the catalogue says the
 * payload decides (a patch that deletes, an upsert that replaces): names never lower a class.
 */
export function classifyField(catalogue: Catalogue, field: RootField): Operation {
  const base: Operation = {
    provider: 'railway',
    type: field.operationType,
    effect: field.operationType === 'mutation' ? 'write' : 'read',
    name: field.field,
    alias: field.alias,
    operationName: field.operationName,
    args: field.args,
    class: 'read',
    target: null,
    reach: null,
    flags: [],
    classReason: null,
    payloadKind: null,
    conditional: field.conditional,
  };
  if (field.operationType !== 'mutation' || field.field === '__typename') return base;
  const entry = Object.prototype.hasOwnProperty.call(catalogue.mutations, field.field) ? catalogue.mutations[field.field] : undefined;
  if (!entry) return { ...base, class: 'unknown', classReason: `${field.field} is not in scopegate's Railway catalogue` };

  let cls = CLASS_OF[entry.class];
  let reason: string | null = entry.note ?? null;
  let target: Target | null = null;
  if (entry.target) {
    const id = argAt(field.args, entry.target.id);
    const withValues: Record<string, unknown> = {};
    for (const [role, path] of Object.entries(entry.target.with ?? {})) {
      const v = argAt(field.args, path);
      if (v !== undefined) withValues[role] = v;
    }
    target = { type: entry.target.type, id: typeof id === 'string' ? id : id === undefined || id === null ? null : JSON.stringify(id), with: withValues };
  }
  if (entry.payload) {
    const raw = argAt(field.args, entry.payload.path);
    switch (entry.payload.kind) {
      case 'environment-patch': {
        const v = jsonValue(raw);
        const r = v.ok ? classifyEnvironmentPatch(v.value) : { class: 'unknown' as const, reason: 'the patch is not JSON' };
        cls = r.class === 'unknown' ? 'unknown' : worseClass(cls === 'modify' ? r.class : cls, r.class);
        reason = r.reason;
        break;
      }
      case 'change-set': {
        const v = jsonValue(raw);
        const r = v.ok ? classifyChangeSet(v.value) : { class: 'unknown' as const, reason: 'the change set is not JSON' };
        cls = r.class === 'unknown' ? 'unknown' : worseClass(cls === 'modify' ? r.class : cls, r.class);
        reason = r.reason;
        break;
      }
      case 'variables-replace':
        if (raw === true) {
          cls = worseClass(cls, 'destructive-recoverable');
          reason = 'replace: true deletes every variable the call does not list';
        }
        break;
      case 'state-change':
        if (typeof raw === 'string' && /DELET/.test(raw)) {
          cls = worseClass(cls, 'destructive-irreversible');
          reason = `state ${raw} deletes the resource`;
        }
        break;
      default:
        break;
    }
  }
  return {
    ...base,
    class: cls,
    target,
    reach: entry.reach ?? null,
    flags: entry.flags ?? [],
    classReason: reason,
    payloadKind: entry.payload?.kind ?? null,
  };
}
