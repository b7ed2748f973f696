import { execFile } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a real client program (curl, python3, node) with a time bound; never throws on exit status. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; inheritEnv?: boolean; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.inheritEnv === false ? { ...opts.env } : { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 20_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | null) ?? null : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
