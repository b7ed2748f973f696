/**
 * A compose file as `docker-compose config` normalises it (variables filled in, anchors merged),
 * read back as data, and the fields the tests look at in both their short and long forms.
 */
import { expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { run } from './run.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- compose config is free-form YAML
export type Service = Record<string, any>;
export interface ComposeConfig {
  services: Record<string, Service>;
  networks: Record<string, Service | null>;
  volumes: Record<string, unknown>;
}

export async function composeConfig(file: string, env: NodeJS.ProcessEnv): Promise<ComposeConfig> {
  const r = await run('docker-compose', ['-f', file, 'config'], { env, timeoutMs: 30_000 });
  expect(r.code, `docker-compose -f ${file} config:\n${r.stderr}`).toBe(0);
  return parseYaml(r.stdout) as ComposeConfig;
}

/** {source, target, ro} of each volume mount, short form or long. */
export const mounts = (s: Service): { source: string; target: string; ro: boolean }[] =>
  ((s['volumes'] ?? []) as unknown[]).map((v) => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      return { source: source!, target: target!, ro: (mode ?? '').split(',').includes('ro') };
    }
    const o = v as Record<string, unknown>;
    return { source: String(o['source']), target: String(o['target']), ro: o['read_only'] === true };
  });

/** {hostIp, published, target} of each published port, short form or long. */
export const published = (s: Service): { hostIp: string; published: string; target: string }[] =>
  ((s['ports'] ?? []) as unknown[]).map((p) => {
    if (typeof p === 'string' || typeof p === 'number') {
      const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
      if (parts.length === 3) return { hostIp: parts[0]!, published: parts[1]!, target: parts[2]! };
      if (parts.length === 2) return { hostIp: '', published: parts[0]!, target: parts[1]! };
      return { hostIp: '', published: '(ephemeral)', target: parts[0]! };
    }
    const o = p as Record<string, unknown>;
    return { hostIp: String(o['host_ip'] ?? ''), published: String(o['published'] ?? '(ephemeral)'), target: String(o['target']) };
  });
