import { createHash, timingSafeEqual } from 'node:crypto';
import type { Policy } from '../policy/policy.js';

export type Identity = { ok: true; agent: string } | { ok: false; reason: string };

export const ANONYMOUS = 'anonymous';

/**
 * Who is calling, from Proxy-Authorization (Basic). A declared agent must present its secret;
 * without the header the caller is `anonymous`, which the policy may refuse. The secret is
 * compared as a hash in constant time and never kept.
 */
export function identify(policy: Policy, header: string | undefined): Identity {
  if (header === undefined || header === '') {
    if (policy.defaults.anonymous === 'deny') return { ok: false, reason: 'this policy refuses anonymous callers: send Proxy-Authorization with an agent name and secret' };
    return { ok: true, agent: ANONYMOUS };
  }
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return { ok: false, reason: 'Proxy-Authorization must be Basic agent:secret' };
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { ok: false, reason: 'Proxy-Authorization must be Basic agent:secret' };
  const name = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);
  const agent = policy.agents.get(name);
  if (agent) {
    const presented = createHash('sha256').update(secret).digest();
    if (!timingSafeEqual(presented, agent.secretHash)) return { ok: false, reason: `wrong secret for agent ${name.slice(0, 64)}` };
    return { ok: true, agent: name };
  }
  // a name the policy does not declare proves nothing: with declared agents it is refused,
  // without any it is just an anonymous caller that happens to send credentials
  if (policy.agents.size > 0) return { ok: false, reason: `agent "${name.slice(0, 64)}" is not declared in the policy` };
  return identify(policy, undefined);
}
