import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeNeon, ACME, type FakeNeon } from './fake-neon/index.js';
import { makeUpstreamCertificate } from './upstream-cert.js';
import { RuntimeError } from '../errors.js';

/** What the demo command hands a scenario: where to work, how to print, how to run scopegate. */
export interface ScenarioKit {
  work: string;
  out: (s?: string) => void;
  color: { bold: (s: string) => string; dim: (s: string) => string; red: (s: string) => string; green: (s: string) => string; yellow: (s: string) => string; cyan: (s: string) => string };
  packageRoot: string;
  defaultPolicy: string;
  agentEnvironment: (listen: { host: string; port: number }, caDir: string) => [string, string][];
}

interface LogLine {
  msg: string;
  decisionId?: string;
  [k: string]: unknown;
}
interface AgentLine {
  step: string;
  says: string;
  status?: number;
  decisionId?: string | null;
  body?: Record<string, unknown>;
  error?: string;
}

/**
 * The Neon scenario: an agent told to clean up old preview branches, holding a placeholder shaped
 * like a Neon API key. It restores main to yesterday and deletes the branch main's compute serves
 * (denied, with the live scope), and deletes an idle preview branch (the default table holds it).
 * Returns whether main survived untouched.
 */
export async function runNeonScenario(kit: ScenarioKit): Promise<number> {
  const { work, out } = kit;
  const { bold, dim, red, green, yellow, cyan } = kit.color;
  let fake: FakeNeon | undefined;
  let proxy: ChildProcess | undefined;
  try {
    const upstreamTls = makeUpstreamCertificate(join(work, 'neon-ca'), ['console.neon.tech']);
    fake = await startFakeNeon({ cert: upstreamTls.cert, key: upstreamTls.key });
    const caDir = join(work, 'ca');
    const dataDir = join(work, 'data');
    const policyPath = join(work, 'policy.yaml');
    writeFileSync(policyPath, `${readFileSync(kit.defaultPolicy, 'utf8').trimEnd()}\n\ncredentials:\n  neon-owner:\n    provider: neon\n    secret_env: NEON_OWNER_KEY\n`);
    const scopegateEnv = { ...process.env, NEON_OWNER_KEY: ACME.key };
    const cli = join(kit.packageRoot, 'dist', 'cli.js');
    const minted = spawn(process.execPath, [cli, 'token', 'create', '--agent', 'cleanup-bot', '--credential', 'neon-owner', '--policy', policyPath, '--data-dir', dataDir], { env: scopegateEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let token = '';
    minted.stdout!.on('data', (c: Buffer) => (token += c.toString()));
    minted.stderr!.resume();
    if ((await new Promise<number | null>((r) => minted.once('exit', r))) !== 0) throw new RuntimeError('scopegate token create failed');
    token = token.trim();
    proxy = spawn(
      process.execPath,
      [cli, 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-dir', caDir, '--data-dir', dataDir, '--policy', policyPath, '--upstream-ca', upstreamTls.caPath, '--route', `console.neon.tech=127.0.0.1:${fake.port}`, '--drain-timeout', '1', '--hold-timeout', '0'],
      { env: scopegateEnv, stdio: ['ignore', 'pipe', 'pipe'] },
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
          lines.push(JSON.parse(raw) as LogLine);
        } catch {
          /* not JSON */
        }
      }
    });
    proxy.stderr!.resume();
    const waitFor = async (pred: (l: LogLine) => boolean, ms: number): Promise<LogLine | undefined> => {
      for (let waited = 0; waited < ms; waited += 50) {
        const l = lines.find(pred);
        if (l) return l;
        if (proxy!.exitCode !== null) throw new RuntimeError(`scopegate exited with ${proxy!.exitCode} during the demo`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return undefined;
    };
    const listening = await waitFor((l) => l.msg === 'listening', 10_000);
    if (!listening) throw new RuntimeError('scopegate did not start in time');
    const [host, port] = String(listening['listen']).split(':');
    const env = Object.fromEntries(kit.agentEnvironment({ host: host!, port: Number(port) }, caDir));

    out(bold('scopegate demo --provider neon: an agent told to "clean up old preview branches"'));
    out(dim('  project acme-shop: main (the default branch; production\'s compute serves it), staging (protected), preview/pr-41 (idle 9 days), preview/pr-57 (+ a child)'));
    out(dim(`  scopegate holds the Neon API key; the agent holds a placeholder shaped like one (${token.slice(0, 12)}…) and reaches console.neon.tech through HTTPS_PROXY`));
    out();
    const agent = spawn(process.execPath, [join(kit.packageRoot, 'dist', 'demo', 'neon-agent.js'), 'list', 'restore-main', 'delete-main', 'delete-idle-preview'], { env: { PATH: process.env['PATH'] ?? '', ...env, NEON_API_KEY: token }, stdio: ['ignore', 'pipe', 'inherit'] });
    let agentOut = '';
    agent.stdout!.on('data', (c: Buffer) => (agentOut += c.toString()));
    if ((await new Promise<number | null>((r) => agent.once('exit', r))) !== 0) throw new RuntimeError('the demo agent failed');
    const steps = agentOut.trim().split('\n').map((l) => JSON.parse(l) as AgentLine);
    const titles: Record<string, string> = {
      list: '1. The agent looks at the branches (a read: straight through)',
      'restore-main': '2. It decides main is "dirty" and restores it to yesterday',
      'delete-main': "3. It deletes the branch main's compute serves",
      'delete-idle-preview': '4. It deletes an idle preview branch: the default table decides',
    };
    for (const s of steps) {
      out(bold(titles[s.step] ?? s.step));
      out(`   agent    ${cyan(s.says)}`);
      const line = s.decisionId ? await waitFor((l) => l.decisionId === s.decisionId && l.msg === 'request', 3000) : undefined;
      if (line?.['scope']) out(`   lookup   ${String(line['scope'])}`);
      const decision = String(line?.['decision'] ?? (s.error ? 'error' : 'allow'));
      const paint = decision === 'deny' ? red : decision === 'hold' ? yellow : green;
      out(`   decision ${paint(bold(decision.toUpperCase()))}${line?.['rule'] ? ` by rule ${String(line['rule'])}` : ''}  ${dim(`(HTTP ${s.status ?? '?'})`)}`);
      out(`   agent is told: ${s.error ?? (typeof s.body?.['message'] === 'string' ? s.body['message'] : `Neon answered (${Array.isArray(s.body?.['branches']) ? `${(s.body['branches'] as unknown[]).length} branches` : 'ok'})`)}`);
      out();
    }
    const main = fake.world.branches.find((b) => b.id === ACME.branch.main);
    const untouched = !!main && !main.last_reset_at;
    const executed = fake.received.filter((r) => r.executed && r.method !== 'GET').length;
    out(bold('Afterwards'));
    out(`   ${untouched ? green('main is untouched') : red('main was changed')}; preview/pr-41 ${fake.world.branches.some((b) => b.id === ACME.branch.pr41) ? 'waits for a person' : 'was deleted'}; Neon executed ${executed} change${executed === 1 ? '' : 's'}`);
    out(dim('   approve the held deletion with `scopegate holds approve ID`; every decision is in the log and audit trail with its id'));
    return untouched ? 0 : 1;
  } finally {
    if (proxy && proxy.exitCode === null) {
      const exited = new Promise((r) => proxy!.once('exit', r));
      proxy.kill('SIGTERM');
      const t = setTimeout(() => proxy!.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    await fake?.stop();
  }
}
