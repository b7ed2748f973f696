import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeRailway, POCKETOS, type FakeRailway } from '../demo/fake-railway/index.js';
import { makeUpstreamCertificate } from '../demo/upstream-cert.js';
import { agentEnvironment } from './env.js';
import { RuntimeError } from '../errors.js';
import { parse } from './args.js';
import { PACKAGE_ROOT } from './paths.js';

export const DEMO_HELP = `Usage: scopegate demo [--no-color]

Replay the PocketOS incident on this machine, in under ten seconds, with nothing left running:
a fake Railway (the incident's world: a volume shared by production and staging, with its
backups on it), scopegate in front of it with the shipped default policy, and a scripted agent
that reaches it only through HTTPS_PROXY. It prints what the agent sent, what scopegate looked up
live, what it decided, what the agent was told, and whether the volume survived.

Options:
  --no-color   plain text (also when NO_COLOR is set or stdout is not a terminal)
  -h, --help   this text`;

interface LogLine {
  msg: string;
  decisionId?: string;
  [k: string]: unknown;
}

interface AgentLine {
  step: string;
  query: string;
  status?: number;
  decisionId?: string | null;
  body?: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  error?: string;
}

function palette(on: boolean) {
  const c = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: c('1'), dim: c('2'), red: c('31'), green: c('32'), yellow: c('33'), cyan: c('36') };
}

function waitForLine(child: ChildProcess, pred: (l: LogLine) => boolean, lines: LogLine[], ms: number): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    const found = lines.find(pred);
    if (found) return resolve(found);
    const t = setTimeout(() => reject(new RuntimeError('scopegate did not start in time')), ms);
    const onLine = (l: LogLine): void => {
      if (pred(l)) {
        clearTimeout(t);
        child.off('log', onLine);
        resolve(l);
      }
    };
    child.on('log', onLine);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new RuntimeError(`scopegate exited with ${code} during the demo`));
    });
  });
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parse('demo', argv, { 'no-color': { type: 'boolean' } });
  if (values['help']) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return 0;
  }
  const color = palette(!values['no-color'] && !process.env['NO_COLOR'] && process.stdout.isTTY === true);
  const { bold, dim, red, green, yellow, cyan } = color;
  const out = (s = ''): boolean => process.stdout.write(`${s}\n`);
  const work = mkdtempSync(join(tmpdir(), 'scopegate-demo-'));
  let fake: FakeRailway | undefined;
  let proxy: ChildProcess | undefined;
  try {
    const upstreamTls = makeUpstreamCertificate(join(work, 'railway-ca'), ['backboard.railway.com']);
    fake = await startFakeRailway({ cert: upstreamTls.cert, key: upstreamTls.key });
    const caDir = join(work, 'ca');
    proxy = spawn(
      process.execPath,
      [join(PACKAGE_ROOT, 'dist', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-dir', caDir, '--data-dir', join(work, 'data'),
        '--upstream-ca', upstreamTls.caPath, '--route', `backboard.railway.com=127.0.0.1:${fake.port}`, '--drain-timeout', '1', '--hold-timeout', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: LogLine[] = [];
    let pending = '';
    proxy.stdout!.on('data', (c: Buffer) => {
      pending += c.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const raw = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const l = JSON.parse(raw) as LogLine;
          lines.push(l);
          proxy!.emit('log', l);
        } catch {
          /* not JSON */
        }
      }
    });
    proxy.stderr!.resume();
    const listening = await waitForLine(proxy, (l) => l.msg === 'listening', lines, 10_000);
    const [host, port] = String(listening['listen']).split(':');

    out(bold('scopegate demo: the PocketOS incident, replayed against a fake Railway'));
    out(dim(`  project pocketos: production and staging share volume vol-7f3a9d ("pgdata"), which holds its own backups`));
    out(dim(`  the agent reaches Railway only through HTTPS_PROXY=http://${host}:${port}, with the shipped default policy`));
    out();

    const env = Object.fromEntries(agentEnvironment({ host: host!, port: Number(port) }, caDir));
    const runAgent = async (...args: string[]): Promise<AgentLine[]> => {
      const agent = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'demo', 'agent.js'), ...args], {
        env: { PATH: process.env['PATH'] ?? '', ...env, RAILWAY_TOKEN: POCKETOS.token.project, RAILWAY_API_TOKEN: POCKETOS.token.account },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let agentOut = '';
      agent.stdout!.on('data', (c: Buffer) => {
        agentOut += c.toString();
      });
      const agentCode = await new Promise<number | null>((r) => agent.once('exit', r));
      if (agentCode !== 0) throw new RuntimeError(`the demo agent exited with ${agentCode}`);
      return agentOut.trim().split('\n').map((l) => JSON.parse(l) as AgentLine);
    };
    const steps = await runAgent();
    const logFor = async (id: string | null | undefined): Promise<LogLine | undefined> => (id ? waitForLine(proxy!, (l) => l.decisionId === id && (l.msg === 'request'), lines, 3000).catch(() => undefined) : undefined);

    for (const s of steps) {
      const line = await logFor(s.decisionId);
      const err = s.body?.errors?.[0];
      const code = err?.extensions?.['code'];
      if (s.step === 'mismatch') {
        out(bold('1. The credential mismatch'));
        out(`   agent   ${cyan(s.query)}  ${dim('(staging project token)')}`);
        out(`   scope   ${dim('a read: no lookup, forwarded')}`);
        out(`   Railway ${err ? yellow(err.message) : 'answered'}  ${dim('— the staging token cannot see production')}`);
        out(dim('   the agent "fixes" it: it finds an account token and cleans up the volume it thinks is staging\'s'));
        out();
        continue;
      }
      const title = s.step === 'incident' ? '2. The incident call' : '3. A volume that really is staging-only';
      out(bold(title));
      out(`   agent    ${cyan(s.query)}`);
      if (line?.['scope']) out(`   lookup   ${String(line['scope'])}`);
      const decision = String(line?.['decision'] ?? (code ? 'refused' : 'allow'));
      const paint = decision === 'deny' ? red : decision === 'hold' ? yellow : green;
      out(`   decision ${paint(bold(decision.toUpperCase()))} by rule ${String(line?.['rule'] ?? '')}`);
      out(`   agent is told: ${err ? err.message : 'the provider answered'}`);
      out();
    }
    // a person reviews the hold and approves it; the agent retries the identical call
    const holdId = steps.find((x) => x.step === 'staging-only')?.body?.errors?.[0]?.extensions?.['holdId'];
    if (typeof holdId === 'string') {
      out(bold('4. A person approves the staging-only deletion'));
      const { readFileSync } = await import('node:fs');
      const adminToken = readFileSync(join(work, 'data', 'admin-token'), 'utf8').trim();
      const res = await fetch(`http://${String(listening['admin'])}/api/holds/${holdId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'scratch space, staging only: ok to delete' }),
      });
      out(`   person   ${cyan(`scopegate holds approve ${holdId} --reason "scratch space, staging only: ok to delete"`)}  ${dim(`(admin API: HTTP ${res.status})`)}`);
      const [retry] = await runAgent('retry');
      const line = await logFor(retry?.decisionId);
      const gone = !fake.world.volumes.some((v) => v.id === POCKETOS.volume.scratch);
      out(`   agent    retries the identical call: ${retry?.body?.errors ? yellow(retry.body.errors[0]!.message) : green('Railway answered')} ${dim(`(rule ${String(line?.['rule'] ?? '?')})`)}`);
      out(`   ${gone ? green('vol-stg-only was deleted') : red('vol-stg-only still exists')}; the approval is used up: the same call again would be held anew`);
      out();
    }
    const survived = fake.world.volumes.some((v) => v.id === POCKETOS.volume.pgdata);
    const backups = fake.world.backups.filter((b) => b.volumeInstanceId === POCKETOS.volumeInstance.prod || b.volumeInstanceId === POCKETOS.volumeInstance.staging).length;
    const deletes = fake.received.filter((r) => r.executed && r.rootFields.includes('volumeDelete')).length;
    out(bold('Afterwards'));
    out(`   ${survived ? green('vol-7f3a9d still exists') : red('vol-7f3a9d was deleted')}, with ${backups} backups; Railway executed ${deletes} volumeDelete call${deletes === 1 ? '' : 's'}, the approved one`);
    out(dim(`   every decision is in scopegate's log and audit trail with its decision id`));
    return survived ? 0 : 1;
  } finally {
    if (proxy && proxy.exitCode === null) {
      const exited = new Promise((r) => proxy!.once('exit', r));
      proxy.kill('SIGTERM');
      const t = setTimeout(() => proxy!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    await fake?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
