import catalogueData from './catalogue.json' with { type: 'json' };

/** The catalogue's own words for a class ("destructive-recoverable" and so on, as the policy names them). */
export type NeonClass = 'read' | 'benign' | 'create' | 'modify' | 'deploy' | 'destructive-recoverable' | 'destructive-irreversible' | 'credential' | 'unknown';

/** One catalogue entry, as `catalogue.json` stores it: one operation of Neon's OpenAPI document. */
export interface NeonEntry {
  method: string;
  /** The OpenAPI path template, below the server's base path /api/v2. */
  path: string;
  class: NeonClass;
  /** What the call acts on: `id` and `with` are argument paths (`path.branch_id`, `body.endpoint.branch_id`, `query.x`). */
  target?: { type: string; id: string | null; with?: Record<string, string> };
  /** How far the provider applies it: account, organization, project (every branch), branch, endpoint, snapshot. */
  reach?: string;
  /** Parameters that change what the call does (kept in the judged arguments, shown to a person). */
  effects?: string[];
  /** The payload decides the class (see classify.ts). */
  payload?: { kind: string };
  flags?: string[];
  note?: string;
}

export interface NeonCatalogue {
  operations: Record<string, NeonEntry>;
}

export const neonCatalogue = catalogueData as unknown as NeonCatalogue;

/** Where Neon's API v2 lives on its hosts (OpenAPI `servers`). */
export const NEON_API_BASE = '/api/v2';
