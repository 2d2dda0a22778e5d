// docs/tour.md's database steps and its psql transcript, for real: a PostgreSQL server of this test's own
// gets exactly the tour's commands (CREATE DATABASE, the seeds, examples/tour/grants.sql, through psql as
// the tour pipes them), then psql talks to the proxy running the quick start's policies — as the tour's
// sidecar would, with the Secret the tour creates — and prints what the tour says it prints.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../support/pg.ts';
import type { PgServer } from '../support/pg.ts';
import { startLocalProxy } from '../support/local-proxy.ts';
import type { LocalProxy } from '../support/local-proxy.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tour = readFileSync(join(repo, 'docs', 'tour.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'airlock-tour-'));
let pg: PgServer;
let proxy: LocalProxy;

function psql(
  args: string[],
  input?: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    const p = execFile(
      join(pg.bin, 'psql'),
      ['-X', ...args],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } },
      (e, out, err) => res({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, out, err }),
    );
    p.stdin?.end(input ?? '');
  });
}
/** The tour's `$PG`: psql -q -U postgres on the server, here over its unix socket. */
const PG = (args: string[], input?: string) =>
  psql(['-q', '-v', 'ON_ERROR_STOP=1', '-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres', ...args], input);

/** The fenced block of the tour that follows the first line matching `after`. */
function block(after: RegExp): string {
  const at = tour.search(after);
  assert.ok(at >= 0, `docs/tour.md has ${after}`);
  const m = /```\w*\n([\s\S]*?)```/.exec(tour.slice(at));
  return m![1]!;
}

before(
  async () => {
    pg = await startPostgres();
    const steps = block(/## 2\. A database/);
    // The commands the tour runs through $PG, in order: replayed here with their inputs.
    const lines = steps.split('\n').filter((l) => l.startsWith('$PG'));
    assert.equal(lines.length, 4);
    for (const l of lines) {
      const m = /^\$PG(?: -d (\w+))?\s+(?:-c '([^']+)' -c '([^']+)'|< (\S+))/.exec(l);
      assert.ok(m, `a $PG line the test understands: ${l}`);
      const r =
        m[4] !== undefined
          ? await PG(m[1] === undefined ? [] : ['-d', m[1]], readFileSync(join(repo, m[4]), 'utf8'))
          : await PG(['-c', m[2]!, '-c', m[3]!]);
      assert.equal(r.code, 0, `${l}\n${r.err}`);
    }
    // The quick start as the tour applies it, with the tour's Secret and its tls patch (no TLS here).
    const secret =
      /create secret generic orders-airlock\s+--from-literal=username=(\S+) --from-literal=password=(\S+)/.exec(tour)!;
    const files = ['binding.yaml', 'policy-readonly.yaml', 'policy-guardrails.yaml'].map((f) =>
      readFileSync(join(repo, 'examples', 'quickstart', f), 'utf8'),
    );
    const config = join(dir, 'quickstart.yaml');
    writeFileSync(
      config,
      `${files
        .join('---\n')
        .replace('tls: { mode: require }', 'tls: { mode: disable }')
        .replace(/  audit: .*\n/, '')}---
apiVersion: v1
kind: Secret
metadata: { name: orders-airlock, namespace: ml }
stringData: { username: ${secret[1]}, password: ${secret[2]} }
`,
    );
    proxy = await startLocalProxy(join(repo, 'bin', 'airlock.ts'), [
      '--config',
      config,
      '--identity',
      'system:serviceaccount:ml:trainer',
      '--upstream',
      `postgres://127.0.0.1:${pg.port}/orders`,
    ]);
  },
  { timeout: 300_000 },
);
after(async () => {
  await proxy?.stop();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("the tour's roles exist with the grants it describes", async () => {
  const r = await PG([
    '-d',
    'features',
    '-At',
    '-c',
    "SELECT has_table_privilege('trainer_ro', 'features.customers', 'SELECT'), has_table_privilege('trainer_ro', 'features.model_runs', 'INSERT'), has_table_privilege('trainer_ro', 'features.labels', 'DELETE')",
  ]);
  assert.equal(r.out.trim(), 't|t|f');
});

test("psql through the quick start's policies prints the tour's transcript", async () => {
  const transcript =
    block(/Masked rows and the blocked `DROP`/).length > 0
      ? tour.slice(tour.indexOf('orders=> SELECT name, email, ssn'))
      : '';
  const shown = /```\n(orders=> [\s\S]*?)```/.exec(`\`\`\`\n${transcript}`)![1]!;
  const statements = [...shown.matchAll(/^orders=> (.+)$/gm)].map((m) => m[1]!);
  assert.equal(statements.length, 3);
  // psql as the tour runs it in the pod: any user name, no password, PGHOST/PGPORT/PGDATABASE from the webhook.
  const r = await psql(
    ['-h', '127.0.0.1', '-p', String(proxy.port), '-d', 'orders', '-U', 'root', '-e'],
    statements.join('\n'),
    { PGPASSWORD: 'anything' },
  );
  // psql pads header cells with a trailing space; the doc's copy has none.
  const out = `${r.out}${r.err}`
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
  // The result table, exactly.
  const table = shown.slice(shown.indexOf('\n') + 1, shown.indexOf('orders=> DROP')).trimEnd();
  assert.ok(out.includes(table), `expected the tour's table:\n${table}\ngot:\n${out}`);
  // Each error line as the tour shows it (a trailing … stands for the rest of the line).
  for (const e of shown.split('\n').filter((l) => l.startsWith('ERROR:'))) {
    const want = e.replace(/…$/, '');
    assert.ok(
      out.split('\n').some((l) => l.startsWith(want)),
      `expected a line starting ${JSON.stringify(want)}, got:\n${out}`,
    );
  }
});
