/**
 * The fake Neon's data: one account with one project shaped like a team's real one — a default
 * branch `main` that production's compute serves, a protected `staging`, preview branches (one
 * idle for days, one with a child), snapshots and a day of restore history.
 */
export interface BranchRec {
  id: string;
  name: string;
  parent_id: string | null;
  default: boolean;
  protected: boolean;
  created_at: string;
  /** Set when a restore or reset overwrote the branch (what the fake executed). */
  last_reset_at?: string;
}
export interface EndpointRec { id: string; branch_id: string; type: 'read_write' | 'read_only'; current_state: 'init' | 'active' | 'idle'; last_active: string | null; host: string }
export interface DatabaseRec { id: number; branch_id: string; name: string; owner_name: string }
export interface RoleRec { branch_id: string; name: string; password: string }
export interface SnapshotRec { id: string; name: string; source_branch_id: string; created_at: string; expires_at: string | null }
export interface ApiKeyRec { id: number; name: string; key: string; revoked: boolean }

export interface NeonWorld {
  project: { id: string; name: string; history_retention_seconds: number; org_id: string | null; created_at: string };
  /** False once the project is deleted: every call on it then answers 404. */
  projectExists: boolean;
  branches: BranchRec[];
  endpoints: EndpointRec[];
  databases: DatabaseRec[];
  roles: RoleRec[];
  snapshots: SnapshotRec[];
  apiKeys: ApiKeyRec[];
  nextId: number;
  /** Largest page of branches the fake returns, whatever limit is asked for (Neon caps pages). */
  branchPageCap?: number;
}

const DAY = 86_400_000;
export const ACME = {
  project: 'acme-shop-482913',
  branch: { main: 'br-main-91a2b3', staging: 'br-staging-4c5d6e', pr41: 'br-preview-pr41-7f8a9b', pr57: 'br-preview-pr57-0c1d2e', pr57fix: 'br-pr57-fix-3e4f5a' },
  endpoint: { main: 'ep-main-rw-11aa22', staging: 'ep-staging-rw-33bb44', pr41: 'ep-pr41-rw-55cc66', pr57: 'ep-pr57-rw-77dd88' },
  snapshot: { mainDaily: 'snap-main-daily-9e8d7c' },
  /** The account's real API key (the fake's only one at start). */
  key: 'napi_realkeyrealkeyrealkeyrealkeyrealkeyrealkeyrealkey0000000',
} as const;

export function acmeWorld(now = Date.now()): NeonWorld {
  const iso = (msAgo: number): string => new Date(now - msAgo).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const b = ACME.branch;
  return {
    project: { id: ACME.project, name: 'acme-shop', history_retention_seconds: 86_400, org_id: null, created_at: iso(200 * DAY) },
    projectExists: true,
    branches: [
      { id: b.main, name: 'main', parent_id: null, default: true, protected: false, created_at: iso(200 * DAY) },
      { id: b.staging, name: 'staging', parent_id: b.main, default: false, protected: true, created_at: iso(100 * DAY) },
      { id: b.pr41, name: 'preview/pr-41', parent_id: b.main, default: false, protected: false, created_at: iso(20 * DAY) },
      { id: b.pr57, name: 'preview/pr-57', parent_id: b.main, default: false, protected: false, created_at: iso(5 * DAY) },
      { id: b.pr57fix, name: 'preview/pr-57-fix', parent_id: b.pr57, default: false, protected: false, created_at: iso(2 * DAY) },
    ],
    endpoints: [
      { id: ACME.endpoint.main, branch_id: b.main, type: 'read_write', current_state: 'active', last_active: iso(3_000), host: `${ACME.endpoint.main}.us-east-2.aws.neon.tech` },
      { id: ACME.endpoint.staging, branch_id: b.staging, type: 'read_write', current_state: 'idle', last_active: iso(2 * 3_600_000), host: `${ACME.endpoint.staging}.us-east-2.aws.neon.tech` },
      { id: ACME.endpoint.pr41, branch_id: b.pr41, type: 'read_write', current_state: 'idle', last_active: iso(9 * DAY), host: `${ACME.endpoint.pr41}.us-east-2.aws.neon.tech` },
      { id: ACME.endpoint.pr57, branch_id: b.pr57, type: 'read_write', current_state: 'active', last_active: iso(60_000), host: `${ACME.endpoint.pr57}.us-east-2.aws.neon.tech` },
    ],
    databases: [b.main, b.staging, b.pr41, b.pr57, b.pr57fix].map((branch_id, i) => ({ id: 100 + i, branch_id, name: 'shop', owner_name: 'shop_owner' })),
    roles: [b.main, b.staging, b.pr41, b.pr57, b.pr57fix].map((branch_id) => ({ branch_id, name: 'shop_owner', password: `pw-${branch_id}` })),
    snapshots: [{ id: ACME.snapshot.mainDaily, name: 'main daily', source_branch_id: b.main, created_at: iso(10 * 3_600_000), expires_at: null }],
    apiKeys: [{ id: 1, name: 'owner', key: ACME.key, revoked: false }],
    nextId: 1000,
  };
}
