// Issue 15, item 6: SIGTERM drains instead of cutting everything at once. A real `airlock proxy` process gets
// SIGTERM with three sessions: idle, running a short statement, running a statement longer than the drain
// timeout. The listener closes at once; the idle session ends at once; the short statement finishes and its
// session then ends; the long one is cancelled upstream (its backend stops, it does not run on) when the drain
// timeout ends, and its client sees the statement's 57014 and then 57P01.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { configYaml, SCHEMA, tempFile, eventually } from './harness.ts';
import { testDatabase, createRole, uniqueName, quoteIdent } from '../support/pg.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

test('issue 15: SIGTERM stops accepting, lets in-flight statements finish up to --drain-timeout, cancels the rest upstream, then exits', async (t) => {
  const db = await testDatabase('drain');
  const role = await createRole(uniqueName('app'), uniqueName('pw'));
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  const clients: pg.Client[] = [];
  try {
    await admin.query(SCHEMA);
    await admin.query(
      `GRANT USAGE ON SCHEMA public TO ${quoteIdent(role.user)}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${quoteIdent(role.user)}`,
    );
    const file = tempFile('airlock.yaml', configYaml({ host: db.host, port: db.port, database: db.database }, role));
    const child = spawn(
      'sh',
      [
        'scripts/node24.sh',
        'bin/airlock.ts',
        'proxy',
        '--config',
        file,
        '--identity',
        'system:serviceaccount:team:trainer',
        '--listen',
        '127.0.0.1:0',
        '--drain-timeout',
        '2',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /airlock: listening on 127\.0\.0\.1:(\d+)\n/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
      void exited.then((code) => reject(new Error(`airlock proxy exited ${code}: ${err}`)));
    });

    const connect = async (name: string) => {
      const c = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'app',
        password: 'x',
        database: 'shop',
        application_name: name,
      });
      const fatal: string[] = [];
      c.on('error', (e: Error & { code?: string }) => {
        fatal.push(e.code ?? e.message);
      });
      let ended = false;
      c.on('end', () => {
        ended = true;
      });
      clients.push(c);
      await c.connect();
      return { c, fatal, ended: () => ended };
    };
    const idle = await connect('idle');
    const short = await connect('short');
    const long = await connect('long');
    const shortQuery = short.c.query('SELECT pg_sleep(1) AS slept').then(
      (r) => r.rows.length,
      (e: { code?: string }) => `error ${e.code}`,
    );
    const longQuery = long.c.query('SELECT pg_sleep(60) AS slept').then(
      () => 'finished',
      (e: { code?: string }) => e.code,
    );
    await eventually(
      async () =>
        Number(
          (
            await admin.query(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep(%' AND state = 'active'`,
              [db.database],
            )
          ).rows[0].n,
        ) === 2,
      5000,
      'both statements to run upstream',
    );

    const t0 = Date.now();
    child.kill('SIGTERM');
    // The listener closes at once: a new connection is refused.
    await eventually(
      async () => {
        const s = net.connect({ host: '127.0.0.1', port });
        return new Promise<boolean>((r) => {
          s.once('error', () => r(true));
          s.once('connect', () => {
            s.destroy();
            r(false);
          });
        });
      },
      1000,
      'the listener to close',
    );
    // The idle session ends at once, with 57P01.
    await eventually(() => idle.ended(), 1000, 'the idle session to end');
    assert.equal(idle.fatal[0], '57P01');
    // The short statement finishes with its rows, then its session ends.
    assert.equal(await shortQuery, 1);
    await eventually(() => short.ended(), 1000, 'the drained session to end');
    assert.equal(short.fatal[0], '57P01');
    // The long one is cancelled at the drain timeout: the statement's own error, then the session ends.
    assert.equal(await longQuery, '57014');
    const code = await exited;
    const drainMs = Date.now() - t0;
    t.diagnostic(`SIGTERM to exit: ${drainMs} ms with --drain-timeout 2 (one statement finished, one cancelled)`);
    assert.equal(code, 0, err);
    assert.ok(drainMs >= 1900 && drainMs < 6000, `drain took ${drainMs} ms`);
    assert.equal(long.fatal[0], '57P01');
    // Nothing keeps running upstream: the cancelled backend stopped (before, it ran on for the full 60 s).
    assert.equal(
      Number(
        (
          await admin.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep(%' AND state = 'active'`,
            [db.database],
          )
        ).rows[0].n,
      ),
      0,
    );
    assert.match(err, /drain timeout \(2000 ms\): cancelling 1 statement/);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const c of clients) await c.end().catch(() => {});
    await admin.end();
    await db.drop();
  }
});
