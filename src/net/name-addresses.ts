import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { errorCode, errorMessage } from '../errors.js';

/** Where a tunnel to `name` would really connect: `--route`'s address when one is set. */
export type TunnelTargetOf = (name: string, port: number) => { host: string; port: number };

/** A lookup that takes longer than this fails: the verdict waits on it, and it fails closed. */
export const NAME_LOOKUP_TIMEOUT_MS = 3_000;

/**
 * The addresses a tunnel to `name` would reach, by the same path the tunnel itself takes:
 * the --route address, or else the system resolver. Rejects on failure or after `timeoutMs`.
 */
export async function addressesOf(tunnelTarget: TunnelTargetOf, name: string, port: number, timeoutMs = NAME_LOOKUP_TIMEOUT_MS): Promise<string[]> {
  const to = tunnelTarget(name, port).host;
  if (isIP(to)) return [to];
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const found = await Promise.race([lookup(to, { all: true }), timedOut]);
    return found.map((a) => a.address);
  } catch (err) {
    throw new Error(errorCode(err) ?? errorMessage(err));
  } finally {
    clearTimeout(timer);
  }
}
