/**
 * A fake Neon API v2 for tests and `scopegate demo --provider neon`: HTTPS on 127.0.0.1, a faithful
 * subset of Neon's OpenAPI document (the operations below, their paths, bodies and answer shapes)
 * executed over an in-memory world. `received` lists every request that reached it, with the
 * operation it ran and whether it was executed, never the key itself.
 *
 * As Neon: `Authorization: Bearer <api key>`; a missing or unknown key is 401; errors are
 * `{"code", "message"}`; the default branch and a branch with children cannot be deleted; a
 * restore that would orphan children or restore a branch onto its own history needs
 * `preserve_under_name`; JSON keys are matched case-insensitively (Neon's server is Go).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { acmeWorld, type BranchRec, type NeonWorld } from './world.js';

export interface NeonReceived {
  at: string;
  method: string;
  path: string;
  /** The operationId the fake ran, or null for a path it does not serve. */
  operation: string | null;
  executed: boolean;
  status: number;
  /** "bearer" with the key's id, or "none" / "unknown": never the key. */
  auth: string;
}

export interface FakeNeon {
  port: number;
  url: string;
  world: NeonWorld;
  received: NeonReceived[];
  /** How many requests of this operation were executed. */
  executed(operation: string): number;
  setMode(mode: 'normal' | 'fail' | { slowMs: number }): void;
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;
type Answer = { status: number; body: unknown };
type Handler = (w: NeonWorld, p: Record<string, string>, q: URLSearchParams, body: Json) => Answer;

const err = (status: number, message: string): Answer => ({ status, body: { code: '', message } });
const ok = (body: unknown): Answer => ({ status: 200, body });
const iso = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Go's encoding/json: a field matches its key case-insensitively. */
function field(o: unknown, name: string): unknown {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return undefined;
  let found: unknown;
  for (const [k, v] of Object.entries(o as Json)) if (k.toLowerCase() === name) found = v;
  return found;
}

function branchJson(w: NeonWorld, b: BranchRec): Json {
  return {
    id: b.id, project_id: w.project.id, name: b.name, ...(b.parent_id ? { parent_id: b.parent_id } : {}), default: b.default, primary: b.default, protected: b.protected,
    current_state: 'ready', state_changed_at: b.created_at, creation_source: 'console', created_at: b.created_at, updated_at: b.last_reset_at ?? b.created_at,
    cpu_used_sec: 0, active_time_seconds: 0, compute_time_seconds: 0, written_data_bytes: 0, data_transfer_bytes: 0,
    ...(b.last_reset_at ? { last_reset_at: b.last_reset_at } : {}),
  };
}
const endpointJson = (w: NeonWorld, e: NeonWorld['endpoints'][number]): Json => ({
  host: e.host, id: e.id, project_id: w.project.id, branch_id: e.branch_id, region_id: 'aws-us-east-2', type: e.type, current_state: e.current_state,
  ...(e.last_active ? { last_active: e.last_active } : {}), autoscaling_limit_min_cu: 0.25, autoscaling_limit_max_cu: 1, pooler_enabled: false, pooler_mode: 'transaction',
  disabled: false, passwordless_access: true, creation_source: 'console', created_at: w.project.created_at, updated_at: w.project.created_at, settings: {}, proxy_host: 'us-east-2.aws.neon.tech',
  suspend_timeout_seconds: 0, provisioner: 'k8s-neonvm',
});
const projectJson = (w: NeonWorld): Json => ({
  id: w.project.id, name: w.project.name, region_id: 'aws-us-east-2', platform_id: 'aws', pg_version: 17, proxy_host: 'us-east-2.aws.neon.tech', history_retention_seconds: w.project.history_retention_seconds,
  ...(w.project.org_id ? { org_id: w.project.org_id } : {}), created_at: w.project.created_at, updated_at: w.project.created_at, provisioner: 'k8s-neonvm', store_passwords: true, branch_logical_size_limit: 0, branch_logical_size_limit_bytes: 0, creation_source: 'console', owner_id: 'user-1', settings: {},
  consumption_period_start: w.project.created_at, consumption_period_end: w.project.created_at, cpu_used_sec: 0, active_time_seconds: 0, compute_time_seconds: 0, written_data_bytes: 0, data_transfer_bytes: 0, data_storage_bytes_hour: 0, synthetic_storage_size: 0,
});
const operation = (w: NeonWorld, action: string, branchId?: string, endpointId?: string): Json => ({ id: `op-${w.nextId++}`, project_id: w.project.id, ...(branchId ? { branch_id: branchId } : {}), ...(endpointId ? { endpoint_id: endpointId } : {}), action, status: 'finished', failures_count: 0, created_at: iso(), updated_at: iso(), total_duration_ms: 1 });

const branchOf = (w: NeonWorld, id: string): BranchRec | undefined => w.branches.find((b) => b.id === id);
const newId = (w: NeonWorld, prefix: string): string => `${prefix}-${(w.nextId++).toString(36)}-${randomBytes(3).toString('hex')}`;

/** The subset of Neon's API v2 the fake serves: [method, path template, operationId, handler]. */
const ROUTES: [string, string, string, Handler][] = [
  ['GET', '/projects', 'listProjects', (w) => ok({ projects: w.projectExists ? [projectJson(w)] : [], pagination: {} })],
  ['GET', '/projects/{project_id}', 'getProject', (w) => ok({ project: projectJson(w) })],
  ['PATCH', '/projects/{project_id}', 'updateProject', (w, _p, _q, body) => {
    const h = field(field(body, 'project'), 'history_retention_seconds');
    if (typeof h === 'number') w.project.history_retention_seconds = h;
    return ok({ project: projectJson(w), operations: [] });
  }],
  ['DELETE', '/projects/{project_id}', 'deleteProject', (w) => {
    const before = projectJson(w);
    w.projectExists = false;
    w.branches = [];
    w.endpoints = [];
    return ok({ project: before });
  }],
  ['GET', '/projects/{project_id}/branches', 'listProjectBranches', (w, _p, q) => {
    // pages of at most `pageCap` (Neon caps them below the limit asked for); the cursor is an offset
    const limit = Math.min(Number(q.get('limit') ?? 10000), w.branchPageCap ?? 10000);
    const from = Number(q.get('cursor') ?? 0) || 0;
    const page = w.branches.slice(from, from + limit);
    return ok({ branches: page.map((b) => branchJson(w, b)), annotations: {}, pagination: from + limit < w.branches.length ? { next: String(from + limit) } : {} });
  }],
  ['POST', '/projects/{project_id}/branches', 'createProjectBranch', (w, _p, _q, body) => {
    const spec = field(body, 'branch');
    const parentId = (field(spec, 'parent_id') as string | undefined) ?? w.branches.find((b) => b.default)!.id;
    if (!branchOf(w, parentId)) return err(404, 'parent branch not found');
    const b: BranchRec = { id: newId(w, 'br'), name: (field(spec, 'name') as string | undefined) ?? `br-${w.nextId}`, parent_id: parentId, default: false, protected: field(spec, 'protected') === true, created_at: iso() };
    w.branches.push(b);
    const eps = field(body, 'endpoints');
    const created = Array.isArray(eps) ? eps.map(() => {
      const id = newId(w, 'ep');
      const e = { id, branch_id: b.id, type: 'read_write' as const, current_state: 'active' as const, last_active: iso(), host: `${id}.us-east-2.aws.neon.tech` };
      w.endpoints.push(e);
      return endpointJson(w, e);
    }) : [];
    return { status: 201, body: { branch: branchJson(w, b), endpoints: created, operations: [operation(w, 'create_branch', b.id)], roles: [], databases: [], connection_uris: [] } };
  }],
  ['GET', '/projects/{project_id}/branches/{branch_id}', 'getProjectBranch', (w, p) => {
    const b = branchOf(w, p['branch_id']!);
    return b ? ok({ branch: branchJson(w, b), annotation: { object: { type: 'branch', id: b.id }, value: {} } }) : err(404, 'branch not found');
  }],
  ['PATCH', '/projects/{project_id}/branches/{branch_id}', 'updateProjectBranch', (w, p, _q, body) => {
    const b = branchOf(w, p['branch_id']!);
    if (!b) return err(404, 'branch not found');
    const spec = field(body, 'branch');
    const name = field(spec, 'name');
    const prot = field(spec, 'protected');
    if (typeof name === 'string') b.name = name;
    if (typeof prot === 'boolean') b.protected = prot;
    return ok({ branch: branchJson(w, b), operations: [] });
  }],
  ['DELETE', '/projects/{project_id}/branches/{branch_id}', 'deleteProjectBranch', (w, p) => {
    const b = branchOf(w, p['branch_id']!);
    if (!b) return err(404, 'branch not found');
    if (b.default) return err(422, 'cannot delete the default branch');
    if (w.branches.some((x) => x.parent_id === b.id)) return err(422, 'branch has children; delete them first');
    w.branches = w.branches.filter((x) => x.id !== b.id);
    for (const e of w.endpoints) if (e.branch_id === b.id) e.current_state = 'idle';
    w.endpoints = w.endpoints.filter((e) => e.branch_id !== b.id);
    return ok({ branch: branchJson(w, b), operations: [operation(w, 'delete_timeline', b.id)] });
  }],
  ['POST', '/projects/{project_id}/branches/{branch_id}/restore', 'restoreProjectBranch', (w, p, _q, body) => {
    const b = branchOf(w, p['branch_id']!);
    if (!b) return err(404, 'branch not found');
    const src = field(body, 'source_branch_id');
    if (typeof src !== 'string' || !branchOf(w, src)) return err(400, 'source_branch_id is required and must name a branch of the project');
    const preserve = field(body, 'preserve_under_name');
    const hasChildren = w.branches.some((x) => x.parent_id === b.id);
    if ((hasChildren || src === b.id) && (typeof preserve !== 'string' || preserve === '')) return err(400, 'preserve_under_name is required when the branch has children or is restored from its own history');
    if (src === b.id && field(body, 'source_timestamp') === undefined && field(body, 'source_lsn') === undefined) return err(400, 'source_timestamp or source_lsn is required when restoring a branch onto itself');
    if (typeof preserve === 'string' && preserve !== '') {
      const kept: BranchRec = { ...b, id: newId(w, 'br'), name: preserve, default: false, protected: false };
      w.branches.push(kept);
      for (const c of w.branches) if (c.parent_id === b.id && c.id !== kept.id) c.parent_id = kept.id;
    }
    b.last_reset_at = iso();
    return ok({ branch: branchJson(w, b), operations: [operation(w, 'restore', b.id)] });
  }],
  ['GET', '/projects/{project_id}/branches/{branch_id}/endpoints', 'listProjectBranchEndpoints', (w, p) => ok({ endpoints: w.endpoints.filter((e) => e.branch_id === p['branch_id']).map((e) => endpointJson(w, e)) })],
  ['GET', '/projects/{project_id}/branches/{branch_id}/databases', 'listProjectBranchDatabases', (w, p) => ok({ databases: w.databases.filter((d) => d.branch_id === p['branch_id']).map((d) => ({ ...d, created_at: w.project.created_at, updated_at: w.project.created_at })) })],
  ['DELETE', '/projects/{project_id}/branches/{branch_id}/databases/{database_name}', 'deleteProjectBranchDatabase', (w, p) => {
    const d = w.databases.find((x) => x.branch_id === p['branch_id'] && x.name === p['database_name']);
    if (!d) return err(404, 'database not found');
    w.databases = w.databases.filter((x) => x !== d);
    return ok({ database: { ...d, created_at: w.project.created_at, updated_at: w.project.created_at }, operations: [] });
  }],
  ['GET', '/projects/{project_id}/branches/{branch_id}/roles', 'listProjectBranchRoles', (w, p) => ok({ roles: w.roles.filter((r) => r.branch_id === p['branch_id']).map((r) => ({ branch_id: r.branch_id, name: r.name, protected: false, created_at: w.project.created_at, updated_at: w.project.created_at })) })],
  ['POST', '/projects/{project_id}/branches/{branch_id}/roles/{role_name}/reset_password', 'resetProjectBranchRolePassword', (w, p) => {
    const r = w.roles.find((x) => x.branch_id === p['branch_id'] && x.name === p['role_name']);
    if (!r) return err(404, 'role not found');
    r.password = randomBytes(9).toString('base64url');
    return ok({ role: { branch_id: r.branch_id, name: r.name, password: r.password, protected: false, created_at: w.project.created_at, updated_at: iso() }, operations: [] });
  }],
  ['GET', '/projects/{project_id}/endpoints', 'listProjectEndpoints', (w) => ok({ endpoints: w.endpoints.map((e) => endpointJson(w, e)) })],
  ['GET', '/projects/{project_id}/endpoints/{endpoint_id}', 'getProjectEndpoint', (w, p) => {
    const e = w.endpoints.find((x) => x.id === p['endpoint_id']);
    return e ? ok({ endpoint: endpointJson(w, e) }) : err(404, 'endpoint not found');
  }],
  ['DELETE', '/projects/{project_id}/endpoints/{endpoint_id}', 'deleteProjectEndpoint', (w, p) => {
    const e = w.endpoints.find((x) => x.id === p['endpoint_id']);
    if (!e) return err(404, 'endpoint not found');
    w.endpoints = w.endpoints.filter((x) => x !== e);
    return ok({ endpoint: endpointJson(w, e), operations: [operation(w, 'suspend_compute', e.branch_id, e.id)] });
  }],
  ['POST', '/projects/{project_id}/endpoints/{endpoint_id}/start', 'startProjectEndpoint', (w, p) => {
    const e = w.endpoints.find((x) => x.id === p['endpoint_id']);
    if (!e) return err(404, 'endpoint not found');
    e.current_state = 'active';
    e.last_active = iso();
    return ok({ endpoint: endpointJson(w, e), operations: [operation(w, 'start_compute', e.branch_id, e.id)] });
  }],
  ['POST', '/projects/{project_id}/endpoints/{endpoint_id}/suspend', 'suspendProjectEndpoint', (w, p) => {
    const e = w.endpoints.find((x) => x.id === p['endpoint_id']);
    if (!e) return err(404, 'endpoint not found');
    e.current_state = 'idle';
    return ok({ endpoint: endpointJson(w, e), operations: [operation(w, 'suspend_compute', e.branch_id, e.id)] });
  }],
  ['GET', '/projects/{project_id}/snapshots', 'listSnapshots', (w) => ok({ snapshots: w.snapshots.map((s) => ({ ...s })) })],
  ['DELETE', '/projects/{project_id}/snapshots/{snapshot_id}', 'deleteSnapshot', (w, p) => {
    const s = w.snapshots.find((x) => x.id === p['snapshot_id']);
    if (!s) return err(404, 'snapshot not found');
    w.snapshots = w.snapshots.filter((x) => x !== s);
    return ok({ operations: [] });
  }],
  ['GET', '/projects/{project_id}/operations', 'listProjectOperations', () => ok({ operations: [], pagination: {} })],
  ['GET', '/api_keys', 'listApiKeys', (w) => ok(w.apiKeys.filter((k) => !k.revoked).map((k) => ({ id: k.id, name: k.name, created_at: w.project.created_at, created_by: { id: 'user-1', name: 'Owner' } })))],
  ['POST', '/api_keys', 'createApiKey', (w, _p, _q, body) => {
    const key = `napi_${randomBytes(30).toString('hex')}`;
    const rec = { id: w.nextId++, name: String(field(body, 'key_name') ?? 'key'), key, revoked: false };
    w.apiKeys.push(rec);
    return ok({ id: rec.id, key, name: rec.name, created_at: iso(), created_by: 'user-1' });
  }],
  ['DELETE', '/api_keys/{key_id}', 'revokeApiKey', (w, p) => {
    const k = w.apiKeys.find((x) => String(x.id) === p['key_id'] && !x.revoked);
    if (!k) return err(404, 'api key not found');
    k.revoked = true;
    return ok({ id: k.id, name: k.name, revoked: true, last_used_at: null, last_used_from_addr: '' });
  }],
  ['GET', '/users/me', 'getCurrentUserInfo', () => ok({ id: 'user-1', email: 'owner@acme.test', name: 'Owner', last_name: '', image: '', login: 'owner', projects_limit: 100, branches_limit: 100, max_autoscaling_limit: 8, plan: 'launch', auth_accounts: [], active_seconds_limit: 0, billing_account: {} })],
  ['GET', '/users/me/organizations', 'getCurrentUserOrganizations', () => ok({ organizations: [] })],
];

const COMPILED = ROUTES.map(([method, template, id, handler]) => ({
  method,
  id,
  handler,
  names: [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
  re: new RegExp(`^/api/v2${template.replace(/\{[^}]+\}/g, '([^/]+)')}$`),
}));

function decode(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip': return gunzipSync(body);
    case 'deflate': return inflateSync(body);
    case 'br': return brotliDecompressSync(body);
    default: return body;
  }
}

export async function startFakeNeon(opts: { cert: string; key: string; world?: NeonWorld; host?: string }): Promise<FakeNeon> {
  let mode: 'normal' | 'fail' | { slowMs: number } = 'normal';
  const sockets = new Set<Socket>();
  const state: FakeNeon = {
    port: 0,
    url: '',
    world: opts.world ?? acmeWorld(),
    received: [],
    executed: (op) => state.received.filter((r) => r.operation === op && r.executed).length,
    setMode: (m) => {
      mode = m;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'https://console.neon.tech');
    const method = req.method ?? 'GET';
    const rec: NeonReceived = { at: new Date().toISOString(), method, path: url.pathname, operation: null, executed: false, status: 0, auth: 'none' };
    state.received.push(rec);
    const send = (a: Answer): void => {
      rec.status = a.status;
      const text = JSON.stringify(a.body);
      res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(method === 'HEAD' ? undefined : text);
    };
    if (typeof mode === 'object') await new Promise((r) => setTimeout(r, (mode as { slowMs: number }).slowMs));
    if (mode === 'fail') return send(err(503, 'service unavailable'));
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const key = m ? state.world.apiKeys.find((k) => k.key === m[1] && !k.revoked) : undefined;
    rec.auth = key ? `bearer:${key.id}` : m ? 'unknown' : 'none';
    if (!key) return send(err(401, 'authentication required'));
    const routeMethod = method === 'HEAD' ? 'GET' : method;
    for (const r of COMPILED) {
      if (r.method !== routeMethod) continue;
      const hit = r.re.exec(url.pathname);
      if (!hit) continue;
      rec.operation = r.id;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(hit[i + 1]!)));
      if (params['project_id'] !== undefined && (params['project_id'] !== state.world.project.id || !state.world.projectExists)) return send(err(404, 'project not found'));
      let body: Json = {};
      const raw = decode(Buffer.concat(chunks), req.headers['content-encoding']);
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8')) as Json;
        } catch {
          return send(err(400, 'request body is not valid JSON'));
        }
      }
      const a = r.handler(state.world, params, url.searchParams, body);
      rec.executed = a.status < 400;
      return send(a);
    }
    return send(err(404, 'not found'));
  };
  const server: Server = createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, opts.host ?? '127.0.0.1', () => r()));
  state.port = (server.address() as AddressInfo).port;
  state.url = `https://127.0.0.1:${state.port}`;
  return state;
}
