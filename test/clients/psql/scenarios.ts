// psql scenarios of the differential harness: each scenario is a psql script (fed on stdin, -X, no
// ON_ERROR_STOP) whose stdout, stderr and exit status are the transcript, so what is compared is exactly
// what a person at the terminal sees. Target from the PG* variables; one JSON transcript on stdout.
//
// Canonicalised: a NOTIFY's sender PID (differs per run); outputs over 64 KiB become length + sha256.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Run {
  code: number | null;
  out: string;
  err: string;
  files?: Record<string, string>;
}

/** interrupt: SIGINT `ms` after `marker` appeared on stdout (so it never lands during the login). */
function psql(
  script: string,
  opts: { interrupt?: { marker: string; ms: number }; args?: string[] } = {},
): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-psql-'));
  return new Promise((resolve) => {
    const child = spawn('psql', ['-X', '-P', 'pager=off', ...(opts.args ?? []), '-f', '-'], {
      env: process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    // psql sends a CancelRequest on SIGINT, as at the terminal with Ctrl-C.
    let interrupt: NodeJS.Timeout | null = null;
    if (opts.interrupt !== undefined) {
      const { marker, ms } = opts.interrupt;
      const watch = (): void => {
        if (interrupt !== null || !out.includes(marker)) return;
        interrupt = setTimeout(() => child.kill('SIGINT'), ms);
      };
      child.stdout.on('data', watch);
    }
    child.on('close', (code) => {
      clearTimeout(kill);
      if (interrupt !== null) clearTimeout(interrupt);
      const files: Record<string, string> = {};
      for (const f of readdirSync(dir).sort()) files[f] = readFileSync(join(dir, f)).toString('hex');
      rmSync(dir, { recursive: true, force: true });
      resolve({
        code,
        out: big(canon(out, dir)),
        err: big(canon(err, dir)),
        ...(Object.keys(files).length > 0 ? { files } : {}),
      });
    });
    // \copy takes the rest of its line verbatim (no :variables), so the scratch directory is put in here.
    child.stdin.end(script.replaceAll('$DIR', dir));
  });
}

/** What differs between any two runs, or between the direct and the proxied login by design. */
function canon(s: string, dir: string): string {
  return s
    .replaceAll(dir, '$DIR')
    .replace(/server process with PID \d+/g, 'server process with PID N')
    .replace(/connected to database "[^"]*" as user "[^"]*"/g, 'connected to database "$PGDATABASE" as user "$PGUSER"');
}
function big(s: string): string {
  if (s.length <= 64 * 1024) return s;
  return `(${s.length} chars, sha256 ${createHash('sha256').update(s).digest('hex')})`;
}

const ERRORS = `
\\set VERBOSITY verbose
\\set SHOW_CONTEXT always
SELECT 1 / 0;
SELECT nope FROM public.items;
INSERT INTO public.items (label, qty) VALUES ('bolt', 1);
INSERT INTO public.items (label, qty) VALUES ('neg', -1);
SELECT public.fail_with('P0001');
SELECT public.fail_with('22023');
SELECT 'abc'::int;
SELECT * FROM public.missing_table;
SELECT public.noisy(21);
DROP TABLE IF EXISTS public.not_there;
COPY public.copied (id, label) FROM STDIN;
7\tok
not-a-number\tbad
\\.
SELECT count(*) FROM public.copied;
`;

const scenarios: Record<string, () => Promise<Run>> = {
  startup: () =>
    psql(`\\echo :SERVER_VERSION_NAME :ENCODING
SELECT current_user = session_user AS same, current_setting('search_path') AS search_path;
SHOW client_encoding;
SHOW DateStyle;
SHOW standard_conforming_strings;
`),
  types_text: () =>
    psql(`SELECT * FROM public.typed ORDER BY id;
\\x on
SELECT 1.50::numeric AS n, '2024-02-29 12:34:56.789+02'::timestamptz AS ts, '[1, {"a": null}]'::jsonb AS jb,
  ARRAY[[1,2],[3,4]] AS m, ARRAY['x', NULL, 'a,b']::text[] AS ta, '\\xdeadbeef'::bytea AS b, 'ok'::public.mood AS mood,
  ROW('a b', 1)::public.pair AS pair, 'infinity'::timestamptz AS inf, NULL::int AS nul;
\\x off
\\pset format unaligned
SELECT * FROM public.typed ORDER BY id;
`),
  prepared: () =>
    psql(`PREPARE byqty(int) AS SELECT label FROM public.items WHERE qty > $1 ORDER BY id;
EXECUTE byqty(5);
EXECUTE byqty(15);
SELECT name, statement FROM pg_prepared_statements;
DEALLOCATE byqty;
SELECT id, label FROM public.items WHERE id = 1 \\gdesc
`),
  transactions: () =>
    psql(`BEGIN;
INSERT INTO public.items (label, qty) VALUES ('t1', 1);
SAVEPOINT s1;
INSERT INTO public.items (label, qty) VALUES ('t2', 2);
SELECT 1 / 0;
SELECT 1;
ROLLBACK TO SAVEPOINT s1;
INSERT INTO public.items (label, qty) VALUES ('t3', 3);
RELEASE SAVEPOINT s1;
COMMIT;
\\set ON_ERROR_ROLLBACK on
BEGIN;
INSERT INTO public.items (label, qty) VALUES ('t4', 4);
SELECT 1 / 0;
INSERT INTO public.items (label, qty) VALUES ('t5', 5);
COMMIT;
\\set ON_ERROR_ROLLBACK off
BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY;
SHOW transaction_isolation;
INSERT INTO public.items (label, qty) VALUES ('t7', 7);
ROLLBACK;
SELECT 1 \\; INSERT INTO public.items (label, qty) VALUES ('t8', 8) \\; SELECT 1 / 0 \\; SELECT 3;
SELECT label FROM public.items WHERE label LIKE 't%' ORDER BY id;
`),
  errors_notices: () => psql(ERRORS),
  listen_notify: () =>
    psql(`LISTEN chan_a;
LISTEN "Chan B";
NOTIFY chan_a, 'from myself';
SELECT pg_notify('Chan B', 'via pg_notify');
NOTIFY chan_nobody, 'unheard';
UNLISTEN *;
NOTIFY chan_a, 'after unlisten';
SELECT 1;
`),
  async cancel_timeout() {
    const cancelled = await psql("SELECT 'sleeping' AS marker;\nSELECT pg_sleep(10);\nSELECT 1;\n", {
      interrupt: { marker: 'sleeping', ms: 1000 },
    });
    const timeout = await psql(`SET statement_timeout = '200ms';
SELECT pg_sleep(3);
RESET statement_timeout;
SHOW statement_timeout;
BEGIN;
SET LOCAL statement_timeout = '100ms';
SELECT pg_sleep(2);
ROLLBACK;
SHOW statement_timeout;
`);
    return {
      code: cancelled.code,
      out: `${cancelled.out}\n--\n${timeout.out}`,
      err: `${cancelled.err}\n--\n${timeout.err}`,
    };
  },
  copy: () =>
    psql(`COPY public.copied (id, label, qty, note) FROM STDIN;
1\ta\t1\t\\N
2\ttab\\there\\nnewline \\\\ back\t2\tx
\\.
COPY public.copied FROM STDIN (FORMAT csv);
3,"quoted, comma",3,
4,plain,4,"a ""q"""
\\.
\\copy (SELECT id + 10, label, qty, note FROM public.copied ORDER BY id) TO '$DIR/bin.copy' (FORMAT binary)
\\copy public.copied FROM '$DIR/bin.copy' (FORMAT binary)
SELECT * FROM public.copied ORDER BY id;
COPY public.items TO STDOUT;
COPY (SELECT id, label, note FROM public.items ORDER BY id) TO STDOUT (FORMAT csv, HEADER);
\\copy public.items TO '$DIR/items.bin' (FORMAT binary)
\\copy public.items TO '$DIR/items.csv' (FORMAT csv, HEADER)
`),
  large_cursor: () =>
    psql(`\\set FETCH_COUNT 1000
SELECT id, v, half FROM public.big ORDER BY id;
\\unset FETCH_COUNT
SELECT count(*), sum(id) FROM public.big;
BEGIN;
DECLARE cur SCROLL CURSOR FOR SELECT id FROM public.big ORDER BY id;
FETCH 3 FROM cur;
MOVE FORWARD 1000 IN cur;
FETCH 2 FROM cur;
FETCH BACKWARD 1 FROM cur;
CLOSE cur;
COMMIT;
SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g;
`),
  pool_reconnect: () =>
    psql(`SET idle_session_timeout = '300ms';
\\! sleep 1
\\c
SELECT count(*) FROM public.items;
`),
  // Unaligned: aligned output pads a column to its widest value, and a masked value is shorter.
  masking: () =>
    psql(`\\pset format unaligned
SELECT id, name, email FROM public.customers ORDER BY id;
\\x on
SELECT * FROM public.customers WHERE id = 2;
\\x off
SELECT id FROM public.customers WHERE email LIKE '%example.org';
COPY public.customers TO STDOUT;
COPY public.customers (id, email) TO STDOUT (FORMAT csv);
\\copy public.customers TO '$DIR/customers.txt'
SELECT count(*) FROM public.customers;
`),
  masked_copy_query: () =>
    psql(`\\pset format unaligned
COPY (SELECT id, email FROM public.customers ORDER BY id) TO STDOUT;
COPY (SELECT * FROM public.customers ORDER BY id) TO STDOUT;
SELECT count(*) FROM public.customers;
`),
  async masked_errors() {
    // The script is not echoed (it holds a raw value); psql's own error lines quote the statement with
    // VERBOSITY verbose only as a position, which is the same both ways.
    return psql(`\\set VERBOSITY verbose
INSERT INTO public.customers VALUES (9, 'Dup', 'ava' || '.costa@example.org');
SELECT email::int FROM public.customers WHERE id = 1;
SELECT nope FROM public.customers;
SELECT count(*) FROM public.customers WHERE public.noisy(id) > 2;
`);
  },
};

const version = await new Promise<string>((resolve) => {
  const c = spawn('psql', ['--version']);
  let o = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => {
    o += d;
  });
  c.on('close', () => resolve(o.trim()));
});
const out: Record<string, unknown> = {};
for (const [name, fn] of Object.entries(scenarios)) out[name] = await fn();
process.stdout.write(`${JSON.stringify({ client: 'psql', version, scenarios: out })}\n`);
