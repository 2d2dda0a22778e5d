// `airlock proxy` (local mode) as a child process, from the source tree or from the image's application
// tree: started on a free port, ready when it prints its one `airlock: listening on HOST:PORT` line.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface LocalProxy {
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/** Runs `node ENTRY proxy ARGS… --listen 127.0.0.1:0` and waits (up to 30 s) for the listening line. */
export async function startLocalProxy(
  entry: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<LocalProxy> {
  const child = spawn(process.execPath, [entry, 'proxy', ...args, '--listen', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`airlock proxy did not get ready in 30 s:\n${out}${err}`));
    }, 30_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /airlock: listening on 127\.0\.0\.1:(\d+)\n/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`airlock proxy exited (${code}) before it was ready:\n${out}${err}`));
    });
  });
  return {
    port,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}
