// The CLI as the kubectl plugin `kubectl-airlock`: a directory holding only a symlink of that name to
// bin/kubectl-airlock (itself a symlink to bin/airlock.ts, as npm's "bin" installs it), put first on the
// PATH together with this Node 24 (the CLI's shebang runs `node`), so kubectl's plugin discovery finds it.
import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let env: NodeJS.ProcessEnv | null = null;
/** Environment whose PATH finds `kubectl-airlock` (and Node 24 as `node`). */
export function pluginPath(): NodeJS.ProcessEnv {
  if (env === null) {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-plugin-'));
    symlinkSync(join(repo, 'bin', 'kubectl-airlock'), join(dir, 'kubectl-airlock'));
    env = { ...process.env, PATH: [dir, dirname(process.execPath), process.env.PATH ?? ''].join(delimiter) };
  }
  return env;
}

export function run(
  cmd: string,
  args: string[],
  e: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: timeoutMs, env: e, maxBuffer: 16 << 20, ...(cwd === undefined ? {} : { cwd }) },
      (error, out, err) => {
        res({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out, err });
      },
    );
  });
}
