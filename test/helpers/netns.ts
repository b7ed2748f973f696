import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type RunResult } from './run.js';

/**
 * An isolated "agent" host: a network namespace joined to this machine by one veth pair, with no
 * default route. Its only reachable address is the host side of the pair, where scopegate
 * listens; everything else — the fake provider on this machine's loopback, any other address —
 * is out of reach. Addresses are the test's own link (10.250.N.0/29), never anything beyond it.
 */
export interface AgentNetns {
  name: string;
  hostIp: string;
  agentIp: string;
  /** An address on the link that no host has: transparent-mode tests resolve names to it and DNAT it. */
  decoyIp: string;
  exec(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; inheritEnv?: boolean }): Promise<RunResult>;
  destroy(): void;
}

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });
}

/** Whether this machine lets the test build namespaces, and why not if it cannot. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not running as root' };
  for (const tool of ['ip', 'iptables']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
    } catch {
      return { ok: false, reason: `${tool} is not installed (apt-get install iproute2 iptables)` };
    }
  }
  const probe = `sgprobe${randomBytes(3).toString('hex')}`;
  try {
    sh(['ip', 'netns', 'add', probe]);
    sh(['ip', 'netns', 'del', probe]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace here: ${(err as Error).message.split('\n')[0]}` };
  }
}

export function createAgentNetns(): AgentNetns {
  const id = randomBytes(3).toString('hex');
  const name = `sgagent${id}`;
  const subnet = 10 + (parseInt(id, 16) % 200);
  const hostIp = `10.250.${subnet}.1`;
  const agentIp = `10.250.${subnet}.2`;
  const decoyIp = `10.250.${subnet}.5`;
  const hostIf = `sgh${id}`;
  const agentIf = `sga${id}`;
  const inNs = (...args: string[]): void => sh(['ip', 'netns', 'exec', name, ...args]);
  sh(['ip', 'netns', 'add', name]);
  try {
    sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', agentIf]);
    sh(['ip', 'link', 'set', agentIf, 'netns', name]);
    sh(['ip', 'addr', 'add', `${hostIp}/29`, 'dev', hostIf]);
    sh(['ip', 'link', 'set', hostIf, 'up']);
    inNs('ip', 'addr', 'add', `${agentIp}/29`, 'dev', agentIf);
    inNs('ip', 'link', 'set', agentIf, 'up');
    inNs('ip', 'link', 'set', 'lo', 'up');
    // belt and braces: whatever routes appear, the agent may only talk to scopegate's address
    inNs('iptables', '-P', 'OUTPUT', 'DROP');
    inNs('iptables', '-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT');
    inNs('iptables', '-A', 'OUTPUT', '-d', hostIp, '-j', 'ACCEPT');
    inNs('iptables', '-A', 'OUTPUT', '-m', 'state', '--state', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
  } catch (err) {
    try {
      sh(['ip', 'netns', 'del', name]);
    } catch {
      /* best effort */
    }
    throw err;
  }
  return {
    name,
    hostIp,
    agentIp,
    decoyIp,
    exec: (cmd, args, opts = {}) => run('ip', ['netns', 'exec', name, cmd, ...args], opts),
    destroy: () => {
      try {
        sh(['ip', 'netns', 'del', name]);
      } catch {
        /* already gone */
      }
      try {
        sh(['ip', 'link', 'del', hostIf]);
      } catch {
        /* removed with the namespace */
      }
    },
  };
}

/** Redirect the agent's outbound TLS to `decoyIp:443` to scopegate's transparent listener. */
export function redirectToTransparent(ns: AgentNetns, port: number): void {
  sh(['ip', 'netns', 'exec', ns.name, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', ns.decoyIp, '--dport', '443', '-j', 'DNAT', '--to-destination', `${ns.hostIp}:${port}`]);
}
