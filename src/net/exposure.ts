import { isIP } from 'node:net';

/** Who can reach a listener bound to `host`: this machine only, or any network it is on. */
export function exposureOf(host: string): 'loopback' | 'network' {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return 'loopback';
  if (isIP(h) === 4 && h.startsWith('127.')) return 'loopback';
  if (h.startsWith('::ffff:127.')) return 'loopback';
  return 'network';
}
