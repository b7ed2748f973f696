import { BlockList, isIP } from 'node:net';

/**
 * IP addresses and CIDR ranges as a policy lists them (`10.1.2.3`, `192.0.2.0/24`,
 * `2001:db8::/32`). An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) matches its IPv4 entry.
 */
export class AddressSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const parsed = parseAddressEntry(e);
      if (typeof parsed === 'string') throw new Error(parsed);
      const family = parsed.family === 4 ? 'ipv4' : 'ipv6';
      if (parsed.prefix === null) this.list.addAddress(parsed.address, family);
      else this.list.addSubnet(parsed.address, parsed.prefix, family);
    }
    this.size = entries.length;
  }

  /** False for anything that is not an IP literal (a host name is never in the set). */
  has(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** One entry, or a sentence saying why it is not one (for the policy checker). */
export function parseAddressEntry(entry: string): { address: string; prefix: number | null; family: 4 | 6 } | string {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `"${entry}" is not an IP address or CIDR range (e.g. 10.1.2.3, 192.0.2.0/24, 2001:db8::/32)`;
  if (slash < 0) return { address, prefix: null, family: family as 4 | 6 };
  const bits = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) return `"${entry}": the prefix length must be a whole number from 0 to ${max}`;
  return { address, prefix: Number(bits), family: family as 4 | 6 };
}
