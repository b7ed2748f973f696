import type { Operation } from '../inspect/operation.js';
import type { RootField } from '../inspect/graphql-document.js';

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
}
