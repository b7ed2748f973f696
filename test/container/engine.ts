/**
 * globalSetup of the container project: a Docker engine for its files, or the reason there is none.
 * An engine that already answers (CI starts one with scripts/ci-docker.sh) is used and left alone;
 * otherwise, as root with dockerd installed, scripts/ci-docker.sh starts one and the teardown stops
 * that dockerd by its pid. Where none can start, the files skip and print the reason.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** '' when a Docker engine answers; otherwise why the container tests skip */
    dockerSkipReason: string;
    /** names this run: the first file to build the images leaves their timings under it, and the
     * other files (each in its own process) use them instead of asking the engine again */
    containerRunId: string;
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
import { imagesStamp } from './stamp.js';

const answers = (): boolean => spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

export default function setup(project: TestProject): (() => void) | undefined {
  const runId = randomBytes(6).toString('hex');
  project.provide('containerRunId', runId);
  const forgetImages = (): void => rmSync(imagesStamp(runId), { force: true });
  if (answers()) {
    project.provide('dockerSkipReason', '');
    return forgetImages;
  }
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'ci-docker.sh')], { encoding: 'utf8', timeout: 120_000 });
  const started = /dockerd pid (\d+)/.exec(r.stdout ?? '')?.[1];
  if (r.status === 0 && answers()) {
    project.provide('dockerSkipReason', '');
    if (!started) return forgetImages;
    return () => {
      forgetImages();
      // the engine this run started, by its pid; containers the tests left behind were removed by them
      try { process.kill(Number(started), 'SIGTERM'); } catch { /* already gone */ }
    };
  }
  const why = `${(r.stderr || r.stdout || r.error?.message || '').trim().split('\n').slice(-3).join(' / ')}`;
  project.provide('dockerSkipReason', `no Docker engine could start here (scripts/ci-docker.sh: ${why || `exit ${r.status}`})`);
  return undefined;
}
