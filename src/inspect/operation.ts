/** Operation classes, from harmless to the ones a person must see. */
export const OPERATION_CLASSES = [
  'read',
  'benign',
  'create',
  'modify',
  'deploy',
  'destructive-recoverable',
  'destructive-irreversible',
  'credential',
  'unknown',
] as const;
export type OperationClass = (typeof OPERATION_CLASSES)[number];

/** How much a class asks of the policy; classes of one rank are alike in risk, not in kind. */
const CLASS_RANK: Record<OperationClass, number> = {
  read: 0,
  benign: 0,
  create: 1,
  modify: 1,
  deploy: 1,
  'destructive-recoverable': 2,
  'destructive-irreversible': 3,
  credential: 3,
  unknown: 4,
};

/**
 * The worse of two classes (the first on a tie): what an argument reveals can raise a call's class,
 * never lower it below what is certain from its name alone.
 */
export function worseClass(a: OperationClass, b: OperationClass): OperationClass {
  return CLASS_RANK[b] > CLASS_RANK[a] ? b : a;
}

/** What a call targets, as named in its arguments (resolved live later). */
export interface Target {
  type: string;
  /** The id the arguments name; null when the argument is absent. */
  id: string | null;
  /** Other context arguments by role: environmentId, projectId, serviceId, … */
  with: Record<string, unknown>;
}

/**
 * One thing the upstream would execute: a root field of a GraphQL operation, or a request the
 * inspector could not read as GraphQL. Plain data: the policy, the log line, a hold and the
 * agent's answer all read it as it is.
 */
export interface Operation {
  provider: string;
  type: 'query' | 'mutation' | 'subscription' | 'http';
  /**
   * Whether executing it can change anything. Live lookups, approvals and cache invalidation go by
   * this, not by a protocol's word for it (a GraphQL mutation, a REST DELETE).
   */
  effect: 'read' | 'write';
  /** Schema root field name, or "METHOD /path" for a request that is not GraphQL. */
  name: string;
  alias: string | null;
  operationName: string | null;
  args: Record<string, unknown>;
  class: OperationClass;
  target: Target | null;
  /** Where the provider applies it regardless of the environment named (project, non-fork environments…). */
  reach: string | null;
  flags: string[];
  /** Why the class is what it is, when the catalogue or the payload decided something notable. */
  classReason: string | null;
  /** The payload kind for calls judged by their payload (patch, change set, replace, staged patch). */
  payloadKind: string | null;
  conditional: boolean;
}

/** The inspection of one HTTP request: the operations, or why it cannot be judged. */
export type Inspection =
  /** `cacheable: false` when the reading depended on more than the request's bytes (a persisted query). */
  | { ok: true; operations: Operation[]; transport: string; cacheable?: false }
  | { ok: false; reason: string; status: number };
