// node-postgres (`pg`, the devDependency) scenarios of the differential harness; target from PG*
// variables (pg reads them itself). Prints one JSON transcript (test/clients/harness.ts).
import { readFileSync } from 'node:fs';
import pg from 'pg';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function canon(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? v : `float:${v}`;
  if (typeof v === 'bigint') return `int:${v}`;
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'date:invalid' : `date:${v.toISOString()}`;
  if (Array.isArray(v)) return v.map(canon);
  if (typeof v === 'object') {
    const o: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = canon(x);
    return o;
  }
  return `${typeof v}:${String(v)}`;
}

const ERROR_FIELDS = [
  'severity',
  'code',
  'message',
  'detail',
  'hint',
  'position',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'internalQuery',
] as const;
function diag(e: unknown): Record<string, Json> {
  const o: Record<string, Json> = {};
  for (const f of ERROR_FIELDS) {
    const x = (e as Record<string, unknown>)[f];
    if (x !== undefined && x !== null) o[f] = String(x);
  }
  return o;
}
async function attempt(p: Promise<pg.QueryResult>): Promise<Json> {
  try {
    const r = await p;
    return { ok: canon(r.rows), command: r.command };
  } catch (e) {
    return { error: (e as Error).constructor.name, ...diag(e) };
  }
}

async function connect(extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client(extra);
  c.on('error', () => {});
  await c.connect();
  return c;
}
async function withClient<T>(fn: (c: pg.Client) => Promise<T>, extra: pg.ClientConfig = {}): Promise<T> {
  const c = await connect(extra);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}
const rows = async (c: pg.Client, sql: string, values?: unknown[]): Promise<Json> =>
  canon((await c.query({ text: sql, values, rowMode: 'array' })).rows);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const TYPED = 'SELECT * FROM public.typed ORDER BY id';
const LITERALS =
  'SELECT 1.50::numeric AS n, \'2024-02-29 12:34:56.789+02\'::timestamptz AS ts, \'[1, {"a": null}, "é"]\'::jsonb AS jb, '
  + "'{\"k\": 1}'::json AS j, ARRAY[[1,2],[3,4]] AS m, ARRAY['x', NULL, 'a,b']::text[] AS ta, '\\xdeadbeef'::bytea AS b, "
  + "'ok'::public.mood AS mood, ROW('a b', 1)::public.pair AS pair, 'infinity'::timestamptz AS inf, 12.5::float4 AS f4, NULL::int AS nul";
const MASK_ROWS = 'SELECT id, name, email FROM public.customers ORDER BY id';
/** pg's `binary: true` query option (results in binary format) is not in @types/pg's QueryConfig. */
function binary(text: string, rowMode?: 'array'): pg.QueryConfig {
  return { text, binary: true, ...(rowMode === undefined ? {} : { rowMode }) } as pg.QueryConfig;
}

const scenarios: Record<string, () => Promise<Json>> = {
  async startup() {
    return withClient(async (c) => {
      return {
        session: await rows(
          c,
          "SELECT current_user = session_user, current_setting('search_path'), current_setting('server_version_num')",
        ),
      };
    });
  },
  async types_text() {
    return withClient(async (c) => {
      const t = await c.query(TYPED);
      const l = await c.query(LITERALS);
      return {
        typed: canon(t.rows),
        fields: t.fields.map((f) => [f.name, f.dataTypeID, f.format]),
        literals: canon(l.rows),
        literal_fields: l.fields.map((f) => [f.name, f.dataTypeID]),
        params: await rows(c, 'SELECT $1::numeric + 1, $2::jsonb, $3::int[], $4::bytea, $5::timestamptz, $6::text', [
          '1.25',
          JSON.stringify({ x: [1, 'y'] }),
          [1, null, 3],
          Buffer.from([0, 1, 255]),
          '2020-01-01T00:00:00+05:00',
          "quote ' and \\",
        ]),
      };
    });
  },
  async types_binary() {
    return withClient(async (c) => {
      const t = await c.query(binary(TYPED));
      const l = await c.query(binary(LITERALS));
      return { typed: canon(t.rows), fields: t.fields.map((f) => [f.name, f.format]), literals: canon(l.rows) };
    });
  },
  async prepared() {
    return withClient(async (c) => {
      const out: Record<string, Json> = {};
      const rep: Json[] = [];
      for (const id of [1, 2, 1, 3, 2])
        rep.push(
          canon(
            (
              await c.query({
                name: 'by-id',
                text: 'SELECT id, label, qty FROM public.items WHERE id = $1',
                values: [id],
              })
            ).rows,
          ),
        );
      out.repeated = rep;
      out.server_statements = await rows(c, 'SELECT name, statement FROM pg_prepared_statements ORDER BY name');
      await c.query('PREPARE byqty(int) AS SELECT label FROM public.items WHERE qty > $1 ORDER BY id');
      out.sql_execute = [await rows(c, 'EXECUTE byqty(5)'), await rows(c, 'EXECUTE byqty(15)')];
      await c.query('DEALLOCATE byqty');
      const q = { name: 'copied-star', text: 'SELECT * FROM public.copied WHERE id = $1', values: [1] };
      out.before_alter = [await attempt(c.query(q)), await attempt(c.query(q))];
      await c.query('ALTER TABLE public.copied ADD COLUMN extra int');
      out.after_alter = await attempt(c.query(q));
      await c.query('ALTER TABLE public.copied DROP COLUMN extra');
      out.unnamed = [
        await rows(c, 'SELECT count(*) FROM public.items WHERE qty >= $1', [5]),
        await rows(c, 'SELECT $1::text || $2::text', ['a', 'b']),
      ];
      return out;
    });
  },
  async transactions() {
    return withClient(async (c) => {
      const out: Record<string, Json> = {};
      await c.query('BEGIN');
      await c.query("INSERT INTO public.items (label, qty) VALUES ('t1', 1)");
      await c.query('SAVEPOINT s1');
      await c.query("INSERT INTO public.items (label, qty) VALUES ('t2', 2)");
      out.nested = await attempt(c.query('SELECT 1 / 0'));
      out.after_error = await attempt(c.query('SELECT 1'));
      await c.query('ROLLBACK TO SAVEPOINT s1');
      await c.query("INSERT INTO public.items (label, qty) VALUES ('t3', 3)");
      await c.query('RELEASE SAVEPOINT s1');
      await c.query('COMMIT');
      await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY');
      out.isolation = await rows(c, 'SHOW transaction_isolation');
      out.read_only = await attempt(c.query("INSERT INTO public.items (label, qty) VALUES ('t7', 7)"));
      await c.query('ROLLBACK');
      out.rows = await rows(c, "SELECT label FROM public.items WHERE label LIKE 't%' ORDER BY id");
      return out;
    });
  },
  async errors_notices() {
    return withClient(async (c) => {
      const notices: Json[] = [];
      c.on('notice', (n) => notices.push(diag(n)));
      const out: Json[] = [];
      for (const sql of [
        'SELECT 1 / 0',
        'SELECT nope FROM public.items',
        "INSERT INTO public.items (label, qty) VALUES ('bolt', 1)",
        "INSERT INTO public.items (label, qty) VALUES ('neg', -1)",
        "SELECT public.fail_with('P0001')",
        "SELECT public.fail_with('22023')",
        "SELECT 'abc'::int",
        'SELECT * FROM public.missing_table',
        'SELECT public.noisy(21)',
        'DROP TABLE IF EXISTS public.not_there',
      ]) {
        notices.length = 0;
        const r = await attempt(c.query(sql));
        await sleep(20);
        out.push({ sql, result: r, notices: [...notices] });
      }
      out.push({ usable: await rows(c, 'SELECT 1') });
      return out;
    });
  },
  async listen_notify() {
    const a = await connect();
    const b = await connect();
    try {
      const aPid = (await a.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      const bPid = (await b.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      const got: Json[] = [];
      a.on('notification', (n) =>
        got.push({
          channel: n.channel,
          payload: n.payload ?? null,
          from_a: n.processId === aPid,
          from_b: n.processId === bPid,
        }),
      );
      await a.query('LISTEN chan_a');
      await a.query('LISTEN "Chan B"');
      await b.query("NOTIFY chan_a, 'from b'");
      await b.query("SELECT pg_notify('Chan B', 'via pg_notify')");
      await a.query("NOTIFY chan_a, 'from myself'");
      await b.query("NOTIFY chan_nobody, 'unheard'");
      await b.query('NOTIFY chan_a');
      for (let i = 0; i < 40 && got.length < 4; i++) await sleep(50);
      await a.query('UNLISTEN *');
      await b.query("NOTIFY chan_a, 'after unlisten'");
      await sleep(300);
      return { received: got };
    } finally {
      await a.end();
      await b.end();
    }
  },
  async backend_key() {
    return withClient(async (c) => {
      const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      let notified: number | null = null;
      c.on('notification', (n) => {
        notified = n.processId;
      });
      await c.query('LISTEN self');
      await c.query('NOTIFY self');
      for (let i = 0; i < 40 && notified === null; i++) await sleep(50);
      const key = (c as unknown as { processID: number }).processID;
      return { key_pid_is_backend_pid: key === pid, notify_pid_is_key_pid: notified === key };
    });
  },
  async cancel_timeout() {
    return withClient(async (c) => {
      const out: Record<string, Json> = {};
      const t0 = Date.now();
      const running = attempt(c.query('SELECT pg_sleep(10)'));
      // A CancelRequest that reaches the server before the Query is ignored there, so leave the Query a
      // generous head start on a loaded machine (pg_stat_activity, to wait for it, needs a rule of its own).
      await sleep(2500);
      // pg's own cancel: another Client sends a CancelRequest with c's BackendKeyData key, on a new connection.
      const canceller = new pg.Client();
      canceller.on('error', () => {});
      (canceller as unknown as { cancel(client: pg.Client, q: unknown): void }).cancel(
        c,
        (c as unknown as { activeQuery: unknown }).activeQuery,
      );
      out.cancelled = await running;
      out.cancel_fast = Date.now() - t0 < 5000;
      out.usable = await rows(c, 'SELECT 1');
      await c.query("SET statement_timeout = '200ms'");
      out.timeout = await attempt(c.query('SELECT pg_sleep(3)'));
      await c.query('RESET statement_timeout');
      out.reset = await rows(c, 'SHOW statement_timeout');
      return out;
    });
  },
  async large_cursor() {
    return withClient(async (c) => {
      const out: Record<string, Json> = {};
      const all = await c.query({ text: 'SELECT id, v, half FROM public.big ORDER BY id', rowMode: 'array' });
      const r = all.rows as [number, string, string][];
      out.all = {
        count: r.length,
        first: canon(r[0]),
        last: canon(r[r.length - 1]),
        sum: r.reduce((s, x) => s + x[0], 0),
      };
      await c.query('BEGIN');
      await c.query('DECLARE cur SCROLL CURSOR FOR SELECT id FROM public.big ORDER BY id');
      out.fetch = await rows(c, 'FETCH 3 FROM cur');
      await c.query('MOVE FORWARD 1000 IN cur');
      out.after_move = await rows(c, 'FETCH 2 FROM cur');
      out.backward = await rows(c, 'FETCH BACKWARD 1 FROM cur');
      let n = 0;
      for (;;) {
        const batch = await c.query('FETCH 5000 FROM cur');
        if (batch.rows.length === 0) break;
        n += batch.rows.length;
      }
      out.rest = n;
      await c.query('CLOSE cur');
      await c.query('COMMIT');
      return out;
    });
  },
  async pool_reconnect() {
    const pool = new pg.Pool({ max: 2, idleTimeoutMillis: 30_000 });
    const errors: string[] = [];
    pool.on('error', (e) => errors.push((e as { code?: string }).code ?? e.message));
    try {
      const c1 = await pool.connect();
      const first = (await c1.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      await c1.query("SET idle_session_timeout = '300ms'");
      c1.release();
      await sleep(1000); // the server ends the idle pooled session: the pool drops it on the 'error'
      const c2 = await pool.connect();
      const second = (await c2.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      const n = await rows(c2, 'SELECT count(*) FROM public.items');
      c2.release();
      return { new_backend: first !== second, query_after_reconnect: n, idle_client_errors: errors };
    } finally {
      await pool.end();
    }
  },
  async masking() {
    return withClient(async (c) => ({
      text: await rows(c, MASK_ROWS),
      binary: canon((await c.query(binary(MASK_ROWS, 'array'))).rows),
      prepared: await Promise.all(
        [1, 2, 1].map(async (id) =>
          canon(
            (
              await c.query({
                name: 'email-by-id',
                text: 'SELECT email FROM public.customers WHERE id = $1',
                values: [id],
              })
            ).rows,
          ),
        ),
      ),
      star: await rows(c, 'SELECT * FROM public.customers ORDER BY id'),
      expression: await rows(c, "SELECT email || '' AS e FROM public.customers ORDER BY id"),
      where_on_masked: await rows(c, 'SELECT id FROM public.customers WHERE email LIKE $1 ORDER BY id', [
        '%example.org',
      ]),
      usable: await rows(c, 'SELECT count(*) FROM public.customers'),
    }));
  },
  async masked_errors() {
    return withClient(async (c) => {
      const notices: Json[] = [];
      c.on('notice', (n) => notices.push(diag(n)));
      const out: Json[] = [];
      for (const sql of [
        "INSERT INTO public.customers VALUES (9, 'Dup', 'ava.costa@example.org')",
        'SELECT email::int FROM public.customers WHERE id = 1',
        'SELECT nope FROM public.customers',
        'SELECT count(*) FROM public.customers WHERE public.noisy(id) > 2',
      ]) {
        notices.length = 0;
        const r = await attempt(c.query(sql));
        await sleep(20);
        out.push({ result: r, notices: [...notices] });
      }
      return out;
    });
  },
};

const out: Record<string, Json> = {};
for (const [name, fn] of Object.entries(scenarios)) {
  const t0 = Date.now();
  try {
    out[name] = await Promise.race([
      fn(),
      sleep(20_000).then(() => {
        throw new Error('hung for 20 s');
      }),
    ]);
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).stack}\n`);
    out[name] = { crash: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
  if (process.env.CLIENT_TIMING) process.stderr.write(`${name}: ${Date.now() - t0} ms\n`);
}
const version = (
  JSON.parse(readFileSync(new URL('../../../node_modules/pg/package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
process.stdout.write(`${JSON.stringify({ client: 'node-postgres', version, scenarios: out })}\n`);
process.exit(0);
