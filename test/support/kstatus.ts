// The kstatus checker (test/kstatus: sigs.k8s.io/cli-utils' kstatus, and Flux's API types with -flux),
// built from the Go module proxy into the cache by scripts/build-kstatus.sh on first use.
import { execFile, execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let built: string | null = null;
export function kstatusBinary(): string {
  built ??= execFileSync('sh', [join(repo, 'scripts', 'build-kstatus.sh')], {
    encoding: 'utf8',
    timeout: 300_000,
  }).trim();
  return built;
}

export interface KstatusResult {
  kind: string;
  name: string;
  status: string;
  message: string;
  error?: string;
}

/** One result per object, in order: kstatus's Current | InProgress | Failed | … (or Valid | Invalid with -flux). */
export function kstatus(objects: unknown[], flags: string[] = []): Promise<KstatusResult[]> {
  const bin = kstatusBinary();
  return new Promise((res, rej) => {
    const p = execFile(bin, flags, { encoding: 'utf8', timeout: 30_000 }, (e, out, err) => {
      if (e !== null) rej(new Error(`kstatus-check: ${err || e.message}`));
      else
        res(
          out
            .trim()
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as KstatusResult),
        );
    });
    p.stdin?.end(JSON.stringify({ kind: 'List', items: objects }));
  });
}
