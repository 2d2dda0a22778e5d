// Upstream login with SCRAM-SHA-256 and MD5 roles; clients log in with any name and password; psql -c and -f.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, psql, tempFile } from './harness.ts';
import type { Harness } from './harness.ts';
import { RawClient } from './raw-client.ts';

const started: Harness[] = [];
after(async () => {
  for (const h of started) await h.stop();
});

test('SCRAM-SHA-256 upstream role', async () => {
  const h = await startHarness();
  started.push(h);
  const r = await h.admin("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname = $1", [
    h.role.user,
  ]);
  assert.equal(r.rows[0].scram, true);
  const c = await h.client({ user: 'someone-else', password: 'wrong-on-purpose' });
  const who = await c.query('SELECT current_user AS u');
  assert.equal(who.rows[0].u, h.role.user);
});

test('MD5 upstream role', async () => {
  const h = await startHarness({ md5: true });
  started.push(h);
  const r = await h.admin("SELECT rolpassword LIKE 'md5%' AS md5 FROM pg_authid WHERE rolname = $1", [h.role.user]);
  assert.equal(r.rows[0].md5, true);
  const c = await h.client();
  assert.equal((await c.query('SELECT count(*)::int AS n FROM public.orders')).rows[0].n, 20);
});

test('psql -c and psql -f with a script that mixes allowed and denied statements', async () => {
  const h = await startHarness();
  started.push(h);
  const c = await psql(h, ['-A', '-t', '-c', 'SELECT count(*) FROM public.orders']);
  assert.equal(c.code, 0, c.err);
  assert.equal(c.out.trim(), '20');
  const script = tempFile(
    'script.sql',
    [
      'SELECT id, status FROM public.orders WHERE id = 1;',
      'BEGIN;',
      "UPDATE public.orders SET status = 'paid' WHERE id = 2;",
      'COMMIT;',
      'DROP TABLE public.orders;',
      "SELECT 'not reached';",
    ].join('\n'),
  );
  const f = await psql(h, ['-f', script]);
  assert.equal(f.code, 3, 'psql stops at the denied statement (ON_ERROR_STOP)');
  assert.match(
    f.err,
    /permission denied for DROP on public\.orders: AccessPolicy "team\/trainer", rule "no-destructive"/,
  );
  assert.doesNotMatch(f.out, /not reached/);
  assert.equal((await h.admin('SELECT status FROM public.orders WHERE id = 2')).rows[0].status, 'paid');
});

test('startup: options and replication are refused, a foreign database name is refused', async () => {
  const h = await startHarness();
  started.push(h);
  for (const [params, code] of [
    [{ user: 'x', database: 'shop', options: '-c search_path=evil' }, '42501'],
    [{ user: 'x', database: 'shop', replication: 'database' }, '08P01'],
    [{ user: 'x', database: 'postgres' }, '3D000'],
  ] as const) {
    const c = await RawClient.connect(h.port, params);
    const err = c.startup.find((m) => m.type === 'E');
    assert.equal(err?.code, code, JSON.stringify(c.startup));
    await c.until(() => false, 5000).catch(() => []);
    assert.ok(c.closed, 'the proxy closes the connection after the FATAL');
  }
  const r = await psql(h, ['-c', 'SELECT 1'], undefined);
  assert.equal(r.code, 0, r.err);
  const bad = await psqlEnv(h, { PGOPTIONS: '-c search_path=evil' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /options/);
  const otherDb = await psqlEnv(h, {}, 'postgres');
  assert.match(otherDb.err, /not served here/);
});

async function psqlEnv(h: Harness, env: Record<string, string>, db = 'shop') {
  const { spawn } = await import('node:child_process');
  return new Promise<{ code: number; err: string }>((resolve) => {
    const child = spawn(
      'psql',
      ['-X', '-h', '127.0.0.1', '-p', String(h.port), '-U', 'u', '-d', db, '-c', 'SELECT 1'],
      { env: { ...process.env, PGPASSWORD: 'x', ...env } },
    );
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('close', (code) => resolve({ code: code ?? -1, err }));
  });
}
