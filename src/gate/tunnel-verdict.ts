import { isIP } from 'node:net';
import { errorMessage } from '../errors.js';
import { guardedBy, type Policy } from '../policy/policy.js';
import { AddressSet } from '../net/address-set.js';
import { parseClientHello } from '../net/client-hello.js';
import { readRequestHead } from '../net/cleartext-http.js';
import { normaliseHost, parseAuthority } from '../net/host.js';
import { addressesOf } from '../net/name-addresses.js';
import type { TunnelOrigin } from '../proxy/gatekeeper.js';
import type { FirstBytesVerdict, SettledVerdict } from '../proxy/tunnel.js';

export type { TunnelOrigin };

/**
 * What a CONNECT tunnel's first client bytes are, so that it cannot carry a guarded host past
 * inspection: TLS whose SNI names a guarded host is intercepted as that host; TLS for another
 * name must be for the CONNECT target itself (by name, or by the address the name resolves to);
 * TLS without SNI, and HTTP/2 prior knowledge, only to addresses in egress.allow_without_sni;
 * cleartext HTTP must name the CONNECT target and no guarded host. Anything else is relayed.
 */
export function firstBytesVerdict(policy: Policy, to: TunnelOrigin, buf: Buffer): FirstBytesVerdict {
  const hello = parseClientHello(buf);
  switch (hello.kind) {
    case 'need-more':
      return 'need-more';
    case 'malformed':
      return { refuse: `a malformed TLS ClientHello (${hello.reason})` };
    case 'hello':
      return tlsVerdict(policy, to, hello.sni);
    case 'not-tls':
      return cleartextVerdict(policy, to, buf);
  }
}

function tlsVerdict(policy: Policy, to: TunnelOrigin, rawSni: string | null): FirstBytesVerdict {
  if (rawSni === null) {
    if (policy.egress.allowWithoutSni.has(to.host)) return 'relay';
    const what = isIP(to.host)
      ? 'a client that must connect to this address without SNI needs it in egress.allow_without_sni'
      : `the client must send the server name ${to.host}`;
    return { refuse: `a TLS ClientHello without a server name (SNI) to ${to.host}: the host it is for cannot be known; ${what}` };
  }
  const sni = normaliseHost(rawSni);
  if (sni === null) return { refuse: 'a TLS server name that is not a host name' };
  if (guardedBy(policy, sni)) return { intercept: sni };
  if (sni === to.host) return 'relay';
  if (!isIP(to.host)) {
    return { refuse: `the TLS server name ${sni} is not the CONNECT target ${to.host}: a tunnel carries TLS for the host it was opened to; CONNECT to ${sni} instead` };
  }
  // the address was allowed as an address; the name it carries must not be one egress denies
  if (policy.egress.deny.matches(sni)) return { refuse: `egress to ${sni} is denied by the policy's egress.deny list (the TLS server name inside a tunnel to ${to.host})` };
  return { pending: serverNameAt(to, sni) };
}

/** An edge that routes by SNI serves `sni` whatever address it was reached at: the name must be that address's. */
async function serverNameAt(to: TunnelOrigin, sni: string): Promise<SettledVerdict> {
  let addresses: string[];
  try {
    addresses = await addressesOf(to.tunnelTarget, sni, to.port);
  } catch (err) {
    return {
      refuse: `cannot rule out domain fronting: the TLS server name ${sni} did not resolve (${errorMessage(err)}), so it cannot be shown to be the CONNECT target ${to.host}; CONNECT to ${sni} instead`,
    };
  }
  const target = new AddressSet([to.host]);
  if (addresses.some((a) => target.has(a))) return 'relay';
  const shown = addresses.length > 4 ? `${addresses.slice(0, 4).join(', ')}, …` : addresses.join(', ');
  return { refuse: `domain fronting: ${sni} resolves to ${shown}, not to the CONNECT target ${to.host}; CONNECT to ${sni} instead` };
}

function cleartextVerdict(policy: Policy, to: TunnelOrigin, buf: Buffer): FirstBytesVerdict {
  const head = readRequestHead(buf);
  switch (head.kind) {
    case 'need-more':
      return 'need-more';
    case 'not-http':
      return 'relay';
    case 'unreadable':
      return { refuse: `a cleartext HTTP request inside a tunnel to ${to.host} with ${head.reason}: refused rather than guessed at` };
    case 'h2-preface':
      if (policy.egress.allowWithoutSni.has(to.host)) return 'relay';
      return {
        refuse: `HTTP/2 cleartext (prior knowledge) inside a tunnel to ${to.host}: the host its requests are for is HPACK-encoded and scopegate does not read it; a client that must speak it to this address needs it in egress.allow_without_sni`,
      };
    case 'request': {
      if (head.authorities.length === 0) {
        if (head.versionless) return 'relay';
        return { refuse: `a cleartext HTTP request without a Host header inside a tunnel to ${to.host}: the host it is for cannot be known` };
      }
      const names: string[] = [];
      for (const raw of head.authorities) {
        try {
          names.push(parseAuthority(raw, 80).host);
        } catch {
          return { refuse: `a cleartext HTTP request inside a tunnel to ${to.host} whose Host or request-target "${raw.slice(0, 64)}" is not a host name` };
        }
      }
      const guarded = names.find((n) => guardedBy(policy, n));
      if (guarded) return { refuse: `cleartext HTTP for guarded host ${guarded} inside a tunnel to another host: its requests must go through CONNECT ${guarded}:443, where they are judged` };
      const other = isIP(to.host) ? undefined : names.find((n) => n !== to.host);
      if (other) return { refuse: `cleartext HTTP for ${other} inside a tunnel to ${to.host}: a tunnel carries requests for the host it was opened to; CONNECT to ${other} instead` };
      // only the first request is in these bytes: every later one on the connection is read too
      return 'read-http';
    }
  }
}
