// The `airlock` CLI contract (design.md "Local mode"), run as a child process exactly as users run it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { configYaml, POLICY, tempFile, eventually } from './harness.ts';
import { testDatabase, createRole, uniqueName } from '../support/pg.ts';
import { freePort } from '../support/ports.ts';
import { SIDECAR_NODE_OPTIONS } from '../../operator/pod.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BAD = fileURLToPath(new URL('../fixtures/bad-policy.yaml', import.meta.url));

function airlock(args: string[], opts: { untilLine?: RegExp; nodeArgs?: string[]; env?: Record<string, string> } = {}) {
  const child = spawn('sh', ['scripts/node24.sh', ...(opts.nodeArgs ?? []), 'bin/airlock.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const done = new Promise<{ code: number; out: string; err: string }>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? -1, out, err })),
  );
  const line =
    opts.untilLine === undefined
      ? null
      : new Promise<string>((resolve, reject) => {
          const check = () => {
            const m = opts.untilLine!.exec(out);
            if (m) resolve(m[0]);
          };
          child.stdout.on('data', check);
          void done.then((r) => reject(new Error(`exited ${r.code} before printing the line: ${r.err}`)));
        });
  return {
    child,
    done,
    line,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}

const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) c.kill('SIGTERM');
});

test('a bad config at start: exit 1 and every problem printed', async () => {
  const r = await airlock([
    'proxy',
    '--config',
    BAD,
    '--identity',
    'system:serviceaccount:ml:trainer',
    '--listen',
    '127.0.0.1:0',
  ]).done;
  assert.equal(r.code, 1);
  assert.match(r.err, /DELTE/);
  assert.match(r.err, /permit/);
  assert.equal(r.out, '');
});

test('validate prints every problem and exits 1; a good file exits 0', async () => {
  const bad = await airlock(['validate', BAD]).done;
  assert.equal(bad.code, 1);
  assert.match(bad.out, /DELTE/);
  assert.match(bad.out, /permit/);
  const good = await airlock(['validate', fileURLToPath(new URL('../../examples/orders.yaml', import.meta.url))]).done;
  assert.equal(good.code, 0, good.out);
});

test('version, --help, unknown subcommand', async () => {
  assert.match((await airlock(['version']).done).out, /^airlock \d+\.\d+\.\d+/);
  const help = await airlock(['proxy', '--help']).done;
  assert.equal(help.code, 0);
  assert.match(help.out, /--identity SUBJECT/);
  const unknown = await airlock(['frobnicate']).done;
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate"/);
  assert.match(unknown.err, /usage: airlock/);
});

test("proxy: with the sidecar's NODE_OPTIONS it runs one full collection once it listens (start-up garbage)", async () => {
  // No database needed: the proxy connects upstream per session.
  const file = tempFile(
    'gc.yaml',
    configYaml({ host: '127.0.0.1', port: 1, database: 'shop' }, { user: 'u', password: 'p' }),
  );
  const port = await freePort();
  const p = airlock(
    ['proxy', '--config', file, '--identity', 'system:serviceaccount:team:trainer', '--listen', `127.0.0.1:${port}`],
    {
      untilLine: /airlock: listening on [^\n]+\n/,
      nodeArgs: ['--trace-gc'], // not allowed in NODE_OPTIONS
      env: { NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
    },
  );
  children.push(p.child);
  await p.line;
  // gc() is V8's "testing" collection: a full one, after the listening line.
  const afterListening = () => p.out.slice(p.out.indexOf('airlock: listening'));
  await eventually(() => /Mark-Compact[^\n]*testing/.test(afterListening()), 5000, 'a full collection').catch(() => {
    assert.fail(`no full collection after the listening line:\n${afterListening()}`);
  });
  p.child.kill('SIGTERM');
  await p.done;
});

test('proxy: prints exactly one listening line, serves, and reloads FILE when it changes', async () => {
  const db = await testDatabase('cli');
  const role = await createRole(uniqueName('app'), uniqueName('pw'));
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(
    `CREATE TABLE public.orders (id int); INSERT INTO public.orders VALUES (1); GRANT SELECT ON public.orders TO "${role.user}"`,
  );
  await admin.end();
  const file = tempFile('airlock.yaml', configYaml({ host: db.host, port: db.port, database: db.database }, role));
  const port = await freePort();
  const p = airlock(
    ['proxy', '--config', file, '--identity', 'system:serviceaccount:team:trainer', '--listen', `127.0.0.1:${port}`],
    { untilLine: /airlock: listening on [^\n]+\n/ },
  );
  children.push(p.child);
  assert.equal(await p.line, `airlock: listening on 127.0.0.1:${port}\n`);
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'any', password: 'any', database: 'shop' });
  await c.connect();
  assert.equal((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n, 1);
  // A bad edit keeps the last good policy and says why on stderr.
  writeFileSync(file, 'kind: AccessPolicy\nnot: valid\n');
  await eventually(() => /not valid; keeping the last good policy/.test(p.err), 5000, 'the bad reload to be logged');
  assert.equal((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n, 1);
  // A good edit that removes the read rule applies to the live session.
  writeFileSync(
    file,
    configYaml(
      { host: db.host, port: db.port, database: db.database },
      role,
      POLICY.replace('tables: ["public.customers", "public.orders", "public.big"]', 'tables: ["public.customers"]'),
    ),
  );
  await eventually(
    async () => {
      try {
        await c.query('SELECT count(*) FROM public.orders');
        return false;
      } catch (e) {
        return (e as { code: string }).code === '42501';
      }
    },
    5000,
    'the reloaded policy to deny',
  );
  await c.end();
  p.child.kill('SIGTERM');
  const r = await p.done;
  assert.equal(r.out.split('\n').filter((l) => l.startsWith('airlock: listening')).length, 1);
  await db.drop();
});
