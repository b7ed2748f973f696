import type { IncomingHttpHeaders } from 'node:http';
import type { Operation } from '../inspect/operation.js';
import type { RootField } from '../inspect/graphql-document.js';
import type { Credential, GraphQLLookups } from '../scope/graphql-lookup.js';
import type { Scope } from '../scope/scope.js';

/** What a resolver gets besides the operation: where to ask, with which credentials, until when. */
export interface ResolveRequest {
  host: string;
  port: number;
  headers: IncomingHttpHeaders;
  lookups: GraphQLLookups;
  signal: AbortSignal;
}

/**
 * What the proxy core knows of a provider: its hosts, how to classify what a call executes, and
 * which request headers do not exist in its API. Live scope resolution plugs in here as well.
 */
export interface ProviderAdapter {
  /** The name policies use under `providers:`. */
  name: string;
  /** Hosts guarded when the policy names the provider without listing hosts. */
  defaultHosts: readonly string[];
  /** Request headers the provider's API does not have: stripped before forwarding, never relied on. */
  strippedHeaders: ReadonlySet<string>;
  /** Turn a GraphQL root field into an Operation (class, target, reach) from the provider's catalogue. */
  classify(field: RootField): Operation;
  /** Every mutation the catalogue knows, for reports and checks. */
  knownMutations(): readonly string[];
  /** The credential a call carries, in the provider's own headers (for cache keys and lookups). */
  credential(headers: IncomingHttpHeaders): Credential | null;
  /** Ask the provider, live, what the operation's target is bound to. Never throws: failures are unresolved. */
  resolve(op: Operation, req: ResolveRequest): Promise<Scope>;
}
