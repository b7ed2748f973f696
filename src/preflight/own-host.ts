/**
 * The name scopegate answers to itself, through the proxy: an agent whose every request goes
 * through scopegate (HTTPS_PROXY, a transparent redirect) reaches the pre-flight API at
 * http://scopegate.internal/v1/… or https://… (TLS from the local CA) without knowing where the
 * listener is. `.internal` is reserved for private use (ICANN, 2024): it never names a public host.
 */
export const OWN_HOST = 'scopegate.internal';

export function isOwnHost(host: string): boolean {
  return host === OWN_HOST;
}
