import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeRailway, POCKETOS, type FakeRailway } from '../demo/fake-railway/index.js';
import { makeUpstreamCertificate } from '../demo/upstream-cert.js';
import { agentEnvironment } from './env.js';
import { RuntimeError, UsageError } from '../errors.js';
import { runNeonScenario } from '../demo/neon-scenario.js';
import { parse } from './args.js';
import { DEFAULT_POLICY, PACKAGE_ROOT } from './paths.js';
import { DEMO_DURATION } from './commands.js';

export const DEMO_HELP = `Usage: scopegate demo [--provider railway|neon] [--keep] [--no-color]

Replay the PocketOS incident on this machine, in ${DEMO_DURATION}, with nothing left running: a fake
Railway (the incident's world: a volume shared by production and staging, with its backups on it),
scopegate in front of it with the shipped default policy and the account token in its custody, and
a scripted agent that holds only a placeholder minted for staging (scopegate token create
--environments staging) and reaches Railway through HTTPS_PROXY. It shows the placeholder refused
by Railway when the agent goes direct, the incident call refused by the placeholder's ceiling before
any rule (and by the rules without one), a staging-only deletion held, approved and retried once,
each with its live scope (bindings, live deployments, production's traffic on the shared volume,
the scratch volume idle, backups), and a real token pasted by mistake refused and reported; then
whether the volume survived.

With --keep, a playground stays up afterwards until Ctrl-C: a fresh fake Railway and scopegate
(holds wait the default 25 s, so the page shows the agent waiting), the agent's environment in a
file to source, the approval page's address and token, and sample calls to try by hand; edit the
printed policy file and scopegate reloads it.

With --provider neon: an agent told to clean up old preview branches, against a fake Neon (a default
branch main that production's compute serves, a protected staging, idle preview branches), holding
a placeholder shaped like a Neon API key: restoring main to yesterday and deleting main are denied
with the live scope; deleting an idle preview branch is held by the default table.

Options:
  --provider   railway (default) or neon (--keep is for railway)
  --keep       leave the fake Railway and scopegate running as a playground (Ctrl-C stops both)
  --no-color   plain text (also when NO_COLOR is set or stdout is not a terminal)
  -h, --help   this text`;

/** The variable that carries the real token to scopegate (and only to scopegate) in the demo. */
const SECRET_ENV = 'RAILWAY_OWNER_TOKEN';
const CREDENTIAL = 'railway-owner';
const AGENT = 'cleanup-bot';

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

/** Runs `scopegate token create` as a person would: the placeholder (stdout) and its id (from stderr). */
async function mintPlaceholder(args: string[], env: NodeJS.ProcessEnv): Promise<{ token: string; id: string }> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'cli.js'), 'token', 'create', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new RuntimeError(`scopegate token create exited with ${code}: ${stderr.trim()}`);
  return { token: stdout.trim(), id: /created placeholder (\S+)/.exec(stderr)?.[1] ?? '?' };
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parse('demo', argv, { 'no-color': { type: 'boolean' }, keep: { type: 'boolean' }, provider: { type: 'string' } });
  if (values['help']) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return 0;
  }
  const color = palette(!values['no-color'] && !process.env['NO_COLOR'] && process.stdout.isTTY === true);
  const { bold, dim, red, green, yellow, cyan } = color;
  const out = (s = ''): boolean => process.stdout.write(`${s}\n`);
  const provider = values['provider'] ?? 'railway';
  if (provider !== 'railway' && provider !== 'neon') throw new UsageError(`--provider ${String(provider)}: the demo has scenarios for railway and neon`);
  if (provider === 'neon' && values['keep']) throw new UsageError('--keep leaves the Railway playground running; it does not combine with --provider neon');
  const work = mkdtempSync(join(tmpdir(), 'scopegate-demo-'));
  if (provider === 'neon') {
    try {
      return await runNeonScenario({ work, out: (s = '') => void out(s), color, packageRoot: PACKAGE_ROOT, defaultPolicy: DEFAULT_POLICY, agentEnvironment });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  let fake: FakeRailway | undefined;
  let proxy: ChildProcess | undefined;
  // Ctrl-C (or a SIGTERM) in the middle of the replay must not leave scopegate running behind us
  // nor the work folder on disk: stop the child, remove the folder, and exit as interrupted
  let playground = false;
  const interrupted = (signal: NodeJS.Signals): void => {
    if (playground) return;
    proxy?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const upstreamTls = makeUpstreamCertificate(join(work, 'railway-ca'), ['backboard.railway.com']);
    fake = await startFakeRailway({ cert: upstreamTls.cert, key: upstreamTls.key });
    const caDir = join(work, 'ca');
    const dataDir = join(work, 'data');
    // the shipped default policy, with the account token in custody: named by variable, never inline
    const policyPath = join(work, 'policy.yaml');
    writeFileSync(
      policyPath,
      `${readFileSync(DEFAULT_POLICY, 'utf8').trimEnd()}\n\ncredentials:\n  ${CREDENTIAL}:\n    provider: railway\n    secret_env: ${SECRET_ENV}\n`,
    );
    // the real token is in scopegate's environment only; the agent never gets it
    const scopegateEnv = { ...process.env, [SECRET_ENV]: POCKETOS.token.account };
    const common = ['--agent', AGENT, '--credential', CREDENTIAL, '--policy', policyPath, '--data-dir', dataDir];
    const staging = await mintPlaceholder([...common, '--environments', 'staging'], scopegateEnv);
    const unbounded = await mintPlaceholder(common, scopegateEnv);
    /** scopegate start on loopback in front of the fake, its JSON log lines collected as they come. */
    const launch = async (fakePort: number, holdTimeout: string): Promise<{ child: ChildProcess; lines: LogLine[]; listening: LogLine }> => {
      const child = spawn(
        process.execPath,
        [join(PACKAGE_ROOT, 'dist', 'cli.js'), 'start', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--ca-dir', caDir, '--data-dir', dataDir, '--policy', policyPath,
          '--upstream-ca', upstreamTls.caPath, '--route', `backboard.railway.com=127.0.0.1:${fakePort}`, '--drain-timeout', '1', '--hold-timeout', holdTimeout],
        { env: scopegateEnv, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const collected: LogLine[] = [];
      let pending = '';
      child.stdout!.on('data', (c: Buffer) => {
        pending += c.toString();
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const raw = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          try {
            const l = JSON.parse(raw) as LogLine;
            collected.push(l);
            child.emit('log', l);
          } catch {
            /* not JSON */
          }
        }
      });
      child.stderr!.resume();
      return { child, lines: collected, listening: await waitForLine(child, (l) => l.msg === 'listening', collected, 10_000) };
    };
    const first = await launch(fake.port, '0');
    proxy = first.child;
    const { lines, listening } = first;
    const [host, port] = String(listening['listen']).split(':');

    out(bold('scopegate demo: the PocketOS incident, replayed against a fake Railway'));
    out(dim(`  project pocketos: production and staging share volume vol-7f3a9d ("pgdata"), which holds its own backups`));
    out(dim(`  production's postgres on it is busy (TCP: its traffic is bytes, never HTTP requests); nothing uses staging's scratch volume`));
    out(dim(`  scopegate holds the account token (policy credentials: ${CREDENTIAL}, secret_env ${SECRET_ENV}), with the shipped default rules`));
    out(dim(`  the agent holds only a placeholder and reaches Railway through HTTPS_PROXY=http://${host}:${port}`));
    out();

    const proxied = Object.fromEntries(agentEnvironment({ host: host!, port: Number(port) }, caDir));
    const runAgent = async (token: string, args: string[], direct = false): Promise<AgentLine[]> => {
      const env = direct
        ? { NODE_EXTRA_CA_CERTS: upstreamTls.caPath, DEMO_RAILWAY_DIRECT: `127.0.0.1:${fake!.port}` }
        : proxied;
      const agent = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'demo', 'agent.js'), ...args], {
        env: { PATH: process.env['PATH'] ?? '', ...env, RAILWAY_API_TOKEN: token },
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
    const logFor = async (id: string | null | undefined): Promise<LogLine | undefined> => (id ? waitForLine(proxy!, (l) => l.decisionId === id && (l.msg === 'request'), lines, 3000).catch(() => undefined) : undefined);
    /** What scopegate looked up, decided and told the agent about one call. */
    const narrate = async (s: AgentLine, note = ''): Promise<LogLine | undefined> => {
      const line = await logFor(s.decisionId);
      const err = s.body?.errors?.[0];
      const code = err?.extensions?.['code'];
      out(`   agent    ${cyan(s.query)}${note ? `  ${dim(note)}` : ''}`);
      if (line?.['scope']) out(`   lookup   ${String(line['scope'])}`);
      const decision = String(line?.['decision'] ?? (code ? 'refused' : 'allow'));
      const paint = decision === 'deny' ? red : decision === 'hold' ? yellow : green;
      const rule = String(line?.['rule'] ?? err?.extensions?.['rule'] ?? '');
      out(`   decision ${paint(bold(decision.toUpperCase()))} by rule ${rule}${rule === 'token-ceiling' ? dim('  (before any rule)') : ''}`);
      out(`   agent is told: ${err ? err.message : 'the provider answered'}`);
      return line;
    };

    out(bold('0. The agent gets a placeholder, not the token'));
    out(`   person   ${cyan(`scopegate token create --agent ${AGENT} --credential ${CREDENTIAL} --environments staging`)}`);
    out(`   agent    RAILWAY_API_TOKEN=${staging.token}  ${dim(`(placeholder ${staging.id}: shaped like a Railway token, staging only; the store keeps only its hash)`)}`);
    out();

    // (a) the token the agent finds is the placeholder: straight to Railway, it is worthless;
    // (b) through scopegate, the ceiling refuses the incident call before any rule, and without a
    // ceiling the rules do (independent calls: the agents run side by side)
    const [[direct], steps, [again]] = await Promise.all([
      runAgent(staging.token, ['incident'], true),
      runAgent(staging.token, ['incident', 'staging-only']),
      runAgent(unbounded.token, ['incident']),
    ]);
    out(bold('1. The agent finds its token and goes straight to Railway, around scopegate'));
    out(`   agent    ${cyan(direct!.query)}  ${dim('(the placeholder, no proxy)')}`);
    const directErr = direct?.body?.errors?.[0]?.message ?? direct?.error ?? 'answered';
    out(`   Railway  ${yellow(directErr)}  ${dim('— a placeholder is worthless without scopegate')}`);
    out();

    out(bold('2. The incident call, through scopegate, with the staging placeholder'));
    await narrate(steps.find((s) => s.step === 'incident')!);
    out();
    out(bold('3. The same call with a placeholder minted without --environments: the rules still stand'));
    await narrate(again!, `(placeholder ${unbounded.id})`);
    out();
    const stagingOnly = steps.find((s) => s.step === 'staging-only')!;
    out(bold('4. A volume that really is staging-only (inside the ceiling)'));
    await narrate(stagingOnly);
    out();

    // a person reviews the hold and approves it; the agent retries the identical call
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const admin = (path: string, init: RequestInit = {}): Promise<Response> =>
      fetch(`http://${String(listening['admin'])}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' } });
    const holdId = stagingOnly.body?.errors?.[0]?.extensions?.['holdId'];
    if (typeof holdId === 'string') {
      out(bold('5. A person approves the staging-only deletion'));
      // a deletion cannot be undone: the person names the volume to approve it, as on the page
      const res = await admin(`/api/holds/${holdId}/approve`, { method: 'POST', body: JSON.stringify({ reason: 'scratch space, staging only: ok to delete', confirm: 'scratch' }) });
      out(`   person   ${cyan(`scopegate holds approve ${holdId} --confirm scratch --reason "scratch space, staging only: ok to delete"`)}  ${dim(`(admin API: HTTP ${res.status})`)}`);
      const [retry] = await runAgent(staging.token, ['retry']);
      const line = await logFor(retry?.decisionId);
      const gone = !fake.world.volumes.some((v) => v.id === POCKETOS.volume.scratch);
      out(`   agent    retries the identical call: ${retry?.body?.errors ? yellow(retry.body.errors[0]!.message) : green('Railway answered')} ${dim(`(rule ${String(line?.['rule'] ?? '?')})`)}`);
      out(`   ${gone ? green('vol-stg-only was deleted') : red('vol-stg-only still exists')}; the approval is used up: the same call again would be held anew`);
      out();
    }

    // (c) a real token pasted into the agent's config by mistake: refused and reported
    const [pasted] = await runAgent(POCKETOS.token.account, ['pasted']);
    out(bold('6. Someone pastes the real account token into the agent\'s config'));
    await narrate(pasted!, '(a real token, not a placeholder)');
    const audit = (await (await admin('/api/audit?host=backboard.railway.com&limit=50')).json()) as { events?: { event: string; decisionId?: string | null; agent?: string; detail?: Record<string, unknown> }[] };
    const seen = audit.events?.find((e) => e.event === 'real-credential-seen' && e.decisionId === pasted?.decisionId);
    out(
      seen
        ? `   audit    ${red('real-credential-seen')}: agent ${String(seen.agent)}, token hash ${String(seen.detail?.['tokenHash'] ?? '?')} ${dim('(never the token): someone should rotate it')}`
        : `   audit    ${red('no real-credential-seen entry was found')}`,
    );
    out();

    const survived = fake.world.volumes.some((v) => v.id === POCKETOS.volume.pgdata);
    const backups = fake.world.backups.filter((b) => b.volumeInstanceId === POCKETOS.volumeInstance.prod || b.volumeInstanceId === POCKETOS.volumeInstance.staging).length;
    const deletes = fake.received.filter((r) => r.executed && r.rootFields.includes('volumeDelete')).length;
    out(bold('Afterwards'));
    out(`   ${survived ? green('vol-7f3a9d still exists') : red('vol-7f3a9d was deleted')}, with ${backups} backups; Railway executed ${deletes} volumeDelete call${deletes === 1 ? '' : 's'}, the approved one`);
    out(dim(`   every decision is in scopegate's log and audit trail with its decision id; the agent never held the real token`));
    const ok = Boolean(survived && seen);
    if (!values['keep']) return ok ? 0 : 1;

    // the playground: a fresh world (the replay deleted the scratch volume) and a scopegate whose
    // holds wait, so that a person can try calls, holds and the page by hand
    playground = true;
    const replayProxy = proxy;
    const stopped = new Promise((r) => replayProxy.once('exit', r));
    replayProxy.kill('SIGTERM');
    await stopped;
    await fake.stop();
    fake = await startFakeRailway({ cert: upstreamTls.cert, key: upstreamTls.key });
    const play = await launch(fake.port, '25');
    proxy = play.child;
    const [pHost, pPort] = String(play.listening['listen']).split(':');
    const adminAddr = String(play.listening['admin']);
    const envFile = join(work, 'agent.sh');
    const agentVars: [string, string][] = [...agentEnvironment({ host: pHost!, port: Number(pPort) }, caDir), ['RAILWAY_API_TOKEN', staging.token]];
    writeFileSync(envFile, `${agentVars.map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`).join('\n')}\n`, { mode: 0o600 });
    const gql = (q: string): string => `curl -s https://backboard.railway.com/graphql/v2 -H "Authorization: Bearer $RAILWAY_API_TOKEN" -H 'content-type: application/json' -d '${JSON.stringify({ query: q })}'`;
    const cli = `npx scopegate`;
    out(bold('Playground: the fake Railway and scopegate keep running (Ctrl-C stops both)'));
    out(`   proxy    http://${pHost}:${pPort}    approval page http://${adminAddr}/  (sign in with the admin token: ${cyan(`cat ${join(dataDir, 'admin-token')}`)})`);
    out(`   policy   ${policyPath}  ${dim('(edit it: scopegate reloads it on save)')}`);
    out(`   agent    ${cyan(`. ${envFile}`)}  ${dim(`(proxy, CA trust, and RAILWAY_API_TOKEN = the staging placeholder ${staging.id}; ${unbounded.id} has no ceiling: ${unbounded.token})`)}`);
    out('   then try, in that shell:');
    out(`     ${dim('# a read: goes through')}`);
    out(`     ${gql(`query { project(id: "${POCKETOS.projectId}") { name } }`)}`);
    out(`     ${dim('# the incident: refused by the placeholder\'s ceiling (production)')}`);
    out(`     ${gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.pgdata}") }`)}`);
    out(`     ${dim('# a staging-only volume: held; it waits 25 s for a person — approve it from another terminal or the page')}`);
    out(`     ${gql(`mutation { volumeDelete(volumeId: "${POCKETOS.volume.scratch}") }`)}`);
    out(`     ${cli} holds list --admin ${adminAddr} --data-dir ${dataDir}`);
    out(`     ${cli} holds approve ID --admin ${adminAddr} --data-dir ${dataDir} --confirm scratch`);
    out(`   ${dim(`work folder ${work} (removed when you stop)`)}`);
    out(`playground ready`);
    await new Promise<void>((resolveStop) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolveStop();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      proxy!.once('exit', stop);
    });
    out('stopping the playground');
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
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
