/**
 * What the container tests share: the docker and docker-compose CLIs with time bounds, the images
 * (the base stand-ins from scripts/container-base.sh, then the real docker/Dockerfile), and
 * bounded waits. Every build is cached by the engine, so each file asks for the images and only
 * the first pays for them.
 */
import { expect, inject } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ROOT } from '../helpers/proxy-process.js';
import { run, type RunResult } from '../helpers/run.js';
import { imagesStamp } from './stamp.js';

export const IMAGE = 'scopegate:local';
/** The Railway stand-in's account token (src/demo/fake-railway/world.ts) and the address agents call. */
export const ACCOUNT_TOKEN = 'tok-account-owner';
export const RAILWAY = 'https://backboard.railway.com/graphql/v2';

/** A one-line node program for the agent: POST a GraphQL document to Railway, print {status, decisionId, body}. */
export const agentCall = (query: string): string =>
  `fetch(${JSON.stringify(RAILWAY)}, {method: 'POST', headers: {'content-type': 'application/json', authorization: 'Bearer ' + process.env.RAILWAY_TOKEN}, body: JSON.stringify({query: ${JSON.stringify(query)}})})` +
  `.then(async (r) => console.log(JSON.stringify({status: r.status, decisionId: r.headers.get('x-scopegate-decision'), body: await r.text()})), (e) => { console.log(JSON.stringify({error: String(e.cause?.code ?? e.message)})); process.exit(3); })`;
export const DOCKER_DIR = join(ROOT, 'docker');
export const FIXTURES = join(ROOT, 'test', 'container', 'fixtures');

export const docker = (args: string[], timeoutMs = 120_000): Promise<RunResult> => run('docker', args, { timeoutMs });

/** `docker …` that must succeed; its stdout, trimmed. */
export async function dockerOk(args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await docker(args, timeoutMs);
  expect(r.code, `docker ${args.join(' ')}:\n${r.stderr.slice(-3000)}`).toBe(0);
  return r.stdout.trim();
}

const seconds = (t0: number): string => `${Math.round((Date.now() - t0) / 1000)}s`;

let built: Promise<{ base: string; image: string }> | undefined;

/**
 * The base stand-ins, then `docker build -f docker/Dockerfile -t scopegate:local .` as the
 * Dockerfile's header says (plus --network host: the build reaches the npm registry as this
 * machine does). Prints how long each took: a cached run takes seconds, a cold one many minutes.
 * Once per run: each file runs in its own process, so the first leaves a stamp for the others
 * (even a fully cached build costs a minute on vfs).
 */
export function ensureImages(): Promise<{ base: string; image: string }> {
  const stamp = imagesStamp(inject('containerRunId'));
  if (!built && existsSync(stamp)) {
    const done = JSON.parse(readFileSync(stamp, 'utf8')) as { base: string; image: string };
    console.log(`[container] base images and ${IMAGE} already built in this run (${done.base} + ${done.image})`);
    built = Promise.resolve(done);
  }
  built ??= (async () => {
    let t0 = Date.now();
    const base = await run('bash', [join(ROOT, 'scripts', 'container-base.sh')], { timeoutMs: 40 * 60_000, cwd: ROOT });
    expect(base.code, `scripts/container-base.sh:\n${base.stdout.slice(-3000)}\n${base.stderr.slice(-3000)}`).toBe(0);
    const baseTime = seconds(t0);
    console.log(`${base.stdout.trim()}\n[container] base images ready in ${baseTime}`);
    t0 = Date.now();
    // The stages that hold the dependency installs are tagged too, so the engine keeps them as the
    // cache of the next build; the images a rebuild replaces are removed by id (vfs stores every
    // layer as a full copy: left alone they fill the disk, a few GB per changed build).
    const targets: [string | undefined, string][] = [['deps', 'scopegate-stage:deps'], ['build', 'scopegate-stage:build'], [undefined, IMAGE]];
    const before = await Promise.all(targets.map(async ([, tag]) => (await docker(['image', 'inspect', '-f', '{{.Id}}', tag])).stdout.trim()));
    let cached = 0;
    for (const [target, tag] of targets) {
      const args = ['build', '--network', 'host', '-f', 'docker/Dockerfile', ...(target ? ['--target', target] : []), '-t', tag, '.'];
      const b = await run('docker', args, { timeoutMs: 40 * 60_000, cwd: ROOT });
      expect(b.code, `docker ${args.join(' ')}:\n${b.stdout.slice(-5000)}\n${b.stderr.slice(-3000)}`).toBe(0);
      cached += (b.stdout.match(/Using cache/g) ?? []).length;
    }
    const after = await Promise.all(targets.map(async ([, tag]) => (await docker(['image', 'inspect', '-f', '{{.Id}}', tag])).stdout.trim()));
    for (let i = 0; i < targets.length; i++) {
      if (before[i] && before[i] !== after[i]) await docker(['rmi', before[i]!]); // refused while a container uses it: fine
    }
    const imageTime = seconds(t0);
    console.log(`[container] ${IMAGE} built in ${imageTime} (${cached} cached steps)`);
    const done = { base: baseTime, image: imageTime };
    writeFileSync(stamp, JSON.stringify(done));
    return done;
  })();
  return built;
}

/** Polls `check` once a second until it returns a value, at most `ms`; the error says what was awaited. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (let i = 0; i < Math.ceil(ms / 1000) + 1; i++) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what}: not within ${ms / 1000}s${last ? ` (last error: ${String(last)})` : ''}`);
}

/** The health status docker reports for a container: starting, healthy, unhealthy. */
export async function health(id: string): Promise<string> {
  return (await docker(['inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{end}}', id])).stdout.trim();
}

/** A port free on the host's loopback right now, for a compose file's published port. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const uniqueName = (label: string): string => `sgtest-${label}-${randomBytes(4).toString('hex')}`;

/** docker-compose v1 (Debian's), with a project name of its own and the given files and environment. */
export function composer(project: string, files: string[], env: NodeJS.ProcessEnv) {
  const base = ['-p', project, ...files.flatMap((f) => ['-f', f])];
  const compose = (args: string[], timeoutMs = 10 * 60_000): Promise<RunResult> => run('docker-compose', [...base, ...args], { env, timeoutMs, cwd: ROOT });
  return {
    compose,
    async ok(args: string[], timeoutMs?: number): Promise<string> {
      const r = await compose(args, timeoutMs);
      expect(r.code, `docker-compose ${args.join(' ')}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`).toBe(0);
      return r.stdout;
    },
    /** The id of a service's (first) container. */
    async id(service: string): Promise<string> {
      const r = await compose(['ps', '-q', service], 60_000);
      const id = r.stdout.trim().split('\n')[0] ?? '';
      expect(id, `a container for ${service}:\n${r.stderr}`).toMatch(/^[0-9a-f]{12,}$/);
      return id;
    },
    /** A service's log, as docker-compose prints it. */
    async logs(service: string): Promise<string> {
      return (await compose(['logs', '--no-color', service], 60_000)).stdout;
    },
    /** What the Railway stand-in executed, from its log: one entry per operation that reached it. */
    async railwaySaw(): Promise<{ rootFields: string[]; executed: boolean }[]> {
      return jsonLines(await this.logs('fake-railway')).map((l) => l['received']).filter((r): r is { rootFields: string[]; executed: boolean } => r !== undefined);
    },
    /** Everything the project made (containers, networks, volumes), removed. */
    down: (): Promise<RunResult> => compose(['down', '-v', '--remove-orphans', '--timeout', '10'], 5 * 60_000),
  };
}

/** JSON lines of a text (a container's log), the rest ignored. */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf('{');
    if (i < 0) continue;
    try {
      out.push(JSON.parse(line.slice(i)) as Record<string, unknown>);
    } catch { /* not JSON */ }
  }
  return out;
}
