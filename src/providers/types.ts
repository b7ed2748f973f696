/**
 * What the proxy core knows of a provider: a name and the hosts it serves. Inspection, the
 * operation catalogue and live scope resolution plug in here as the adapter grows.
 */
export interface ProviderAdapter {
  /** The name policies use under `providers:`. */
  name: string;
  /** Hosts guarded when the policy names the provider without listing hosts. */
  defaultHosts: readonly string[];
}
