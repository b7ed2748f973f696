import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { dirname, basename, resolve } from 'node:path';
import type { Logger } from '../audit/logger.js';
import { CheckFailed, errorMessage } from '../errors.js';
import { loadPolicyFile, type KnownProviders, type Policy } from './policy.js';

/**
 * What a reload compares: the policy's text and the custody secrets it loaded, so that a rotated
 * secret (a new value in a secret_file) is applied on SIGHUP though the policy text is unchanged.
 * Only a hash of the secrets is kept.
 */
function stateOf(p: Policy): string {
  const h = createHash('sha256').update(p.digest);
  for (const c of p.credentials.values()) h.update(`\0${c.name}\0`).update(c.secret.reveal());
  return h.digest('hex');
}

/**
 * Reload the policy on SIGHUP and when its file changes. A file that does not load keeps the
 * policy in force, and the log says why: a typo must never open the gate or stop the proxy.
 */
export function watchPolicy(path: string, providers: KnownProviders, logger: Logger, apply: (p: Policy) => void): { close(): void } {
  let lastDigest: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const reload = (why: string): void => {
    try {
      const p = loadPolicyFile(path, providers);
      const state = stateOf(p);
      if (state === lastDigest) return;
      lastDigest = state;
      apply(p);
      logger.info({ policy: path, digest: p.digest, trigger: why, rules: p.rules.length, mode: p.mode }, 'policy loaded');
    } catch (err) {
      const detail = err instanceof CheckFailed ? err.issues.map((i) => `${i.line}:${i.column} ${i.field}: ${i.message}`) : [errorMessage(err)];
      logger.error({ policy: path, trigger: why, problems: detail }, 'policy reload failed; the previous policy stays in force');
    }
  };
  try {
    lastDigest = stateOf(loadPolicyFile(path, providers));
  } catch {
    lastDigest = null;
  }
  const onHup = (): void => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  // watch the directory: editors replace files by rename, which a file watch would lose
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(resolve(path)), (_event, name) => {
      if (name !== basename(path)) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('file change'), 150);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    logger.warn({ policy: path }, 'cannot watch the policy file; reload it with SIGHUP');
  }
  return {
    close() {
      clearTimeout(timer);
      process.off('SIGHUP', onHup);
      watcher?.close();
    },
  };
}
