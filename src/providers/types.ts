import type { IncomingHttpHeaders } from 'node:http';
import type { HttpRequestView } from '../inspect/request-view.js';
import type { Inspection, Operation } from '../inspect/operation.js';
import type { Credential, LiveLookups } from '../scope/live-lookups.js';
import type { Scope } from '../scope/scope.js';

/** What a resolver gets besides the operation: where to ask, with which credentials, until when. */
export interface ResolveRequest {
  host: string;
  port: number;
  headers: IncomingHttpHeaders;
  lookups: LiveLookups;
  signal: AbortSignal;
  /** How far back recent traffic (the third signal) looks; 0 or absent: not looked up. */
  trafficWindowMs?: number;
  /** performance.now() when `signal` aborts: a provider may stop optional lookups a little earlier. */
  deadlineAt?: number;
}

/** The codes of scopegate's own answers to an agent, the same for every provider. */
export type AnswerCode = 'SCOPEGATE_DENIED' | 'SCOPEGATE_HOLD_PENDING' | 'SCOPEGATE_UNJUDGEABLE';

/**
 * `graphql`: a refusal is answered the way a GraphQL API reports its own errors (HTTP 200 with an
 * `errors` list), the only form some agent tool servers pass on; `http`: 403 / 409. A provider
 * whose API is not GraphQL answers with HTTP statuses either way.
 */
export type AnswerStatusMode = 'graphql' | 'http';

/** A refusal scopegate makes (deny, hold, unjudgeable), before it takes the provider's error shape. */
export interface Refusal {
  code: AnswerCode;
  message: string;
  /** Machine-readable details (rule, operation, class, target, scope, hold id…). */
  details: Record<string, unknown>;
  decisionId: string;
}

/** The answer body an agent gets, in the provider's own error shape. */
export interface ProviderAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** GraphQL providers can also be spoken to over WebSocket (graphql-transport-ws, graphql-ws). */
export interface WebSocketReading {
  /** One subscribe message's document and variables → the operations it would run. */
  readPayload(query: string, variables: Record<string, unknown> | undefined): Inspection;
}

/**
 * Everything the gate knows of a provider, and all it may know: its hosts, how to read a request
 * into operations (each with its class, target and effect), how to ask the provider live what a
 * target is bound to, what of a call an approval binds, which headers are secret, and how the
 * provider's API answers an error. Nothing outside src/providers/ names a provider.
 */
export interface ProviderAdapter {
  /** The name policies use under `providers:`. */
  name: string;
  /** Hosts guarded when the policy names the provider without listing hosts. */
  defaultHosts: readonly string[];
  /** Request headers that carry this provider's credentials: never logged. */
  secretHeaders: readonly string[];
  /** Request headers the provider's API does not have: stripped before forwarding, never relied on. */
  strippedHeaders: ReadonlySet<string>;
  /** Every operation a request carries, as the provider's API would execute them, or why it cannot be judged. Never throws. */
  read(view: HttpRequestView): Promise<Inspection>;
  /** Present for providers that take calls over WebSocket. */
  websocket?: WebSocketReading;
  /** Every write operation the catalogue knows, for reports and checks. */
  knownOperations(): readonly string[];
  /** The credential a call carries, in the provider's own headers (for cache keys, lookups and approvals). */
  credential(headers: IncomingHttpHeaders): Credential | null;
  /** Ask the provider, live, what the operation's target is bound to. Never throws: failures are unresolved. */
  resolve(op: Operation, req: ResolveRequest): Promise<Scope>;
  /** What of an operation an approval is bound to: what it runs and with which arguments. */
  callEssence(op: Operation): unknown;
  /** What of a live scope an approval is bound to: ids and what is at stake, not names or timings. */
  scopeEssence(scope: Scope): unknown;
  /** The operation's arguments as a person may see them: secret-looking values blanked. */
  displayArgs(op: Operation): Record<string, unknown>;
  /** A refusal in the provider's error shape. */
  answer(refusal: Refusal, mode: AnswerStatusMode): ProviderAnswer;
  /**
   * A fresh placeholder token (credential custody), from a CSPRNG, shaped like the provider's own
   * tokens so that clients checking a token's shape accept it. Absent: a generic random token.
   */
  mintPlaceholder?(): string;
  /**
   * Every provider token a request carries, with the header it came in (Railway: Authorization's
   * bearer token, Project-Access-Token, Team-Access-Token). Credential custody swaps or refuses
   * these; a provider without it is not taken into custody.
   */
  presentedTokens?(headers: IncomingHttpHeaders): { header: string; token: string }[];
  /**
   * The headers a call carrying `token` has, in the provider's usual place for it: where a
   * pre-flight check puts the token an agent names without saying where it goes (X-Scopegate-Token).
   */
  tokenHeaders?(token: string): Record<string, string>;
  /**
   * The environment variables the provider's own tools read a token from, in order of preference,
   * and where each token goes on a call: `scopegate mcp` acts as the agent with them.
   */
  agentTokenEnv?: readonly { variable: string; header: string; bearer: boolean }[];
  /**
   * A call as an agent would describe it to a pre-flight check (path, method, body): shown in the
   * check tool's description, so an agent learns what to pass from the provider's own shape.
   */
  checkExample?: { path: string; method: string; body: unknown };
  /** One line for `scopegate start --help`: what the operator can configure for this provider. */
  help?: string;
}
