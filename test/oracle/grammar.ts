// Statements for the privilege oracle, from a small SQL grammar (fast-check arbitraries). The point
// is not random SQL but every *place* a relation or function can hide: a read of a table is put in
// a select list, WHERE, ORDER BY, LIMIT, a CTE, DML inside WITH, RETURNING, ON CONFLICT, MERGE,
// COPY (query), EXPLAIN, PREPARE/EXECUTE, a cursor, a function argument, a string naming a
// relation, … and the table is spelled in every way PostgreSQL accepts (qualified, quoted, U&"…",
// upper case, with comments between tokens). Statements are meant to parse on PostgreSQL 15+;
// the few that do not are harmless (both sides refuse them alike).
import fc from 'fast-check';

/** The fixture's relations and their columns (oracle.ts creates them). */
export const TABLES: Readonly<Record<string, readonly string[]>> = {
  customers: ['id', 'name', 'email', 'ssn'],
  orders: ['id', 'customer_id', 'amount', 'status'],
  secrets: ['id', 'v'],
  notes: ['id', 'body'],
  v_orders: ['id', 'customer_id', 'amount'],
  v_secrets: ['id', 'v'],
  v_inv: ['id', 'v'],
};
export const BASE_TABLES = ['customers', 'orders', 'secrets', 'notes'] as const;
export const VIEWS = ['v_orders', 'v_secrets', 'v_inv'] as const;
export const RELATIONS = [...BASE_TABLES, ...VIEWS] as const;
export type Relation = (typeof RELATIONS)[number];

/** What the generator may draw from the database: pg_catalog functions and relations the role may not use. */
export interface CatalogPick {
  /** `pg_catalog.name(args)` calls of functions PUBLIC may not execute, with harmless arguments. */
  readonly restrictedCalls: readonly string[];
  /** pg_catalog / information_schema relations (qualified) the role may not read in full. */
  readonly restrictedRelations: readonly string[];
  /** Settings only a superuser may change (pg_settings.context = 'superuser'). */
  readonly superuserSettings: readonly string[];
  /** Settings only a superuser (or pg_read_all_settings) may read. */
  readonly hiddenSettings: readonly string[];
}

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);

/** `secrets` written in any spelling PostgreSQL resolves to public.secrets. */
function spell(t: string): fc.Arbitrary<string> {
  const unicode =
    'U&"'
    + [...t].map((ch, i) => (i === 0 ? `\\${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch)).join('')
    + '"';
  return fc.constantFrom(
    t,
    `public.${t}`,
    `"${t}"`,
    `"public"."${t}"`,
    `PUBLIC.${t.toUpperCase()}`,
    t.toUpperCase(),
    unicode,
    `public . /* c */ ${t}`,
    `ONLY ${t}`,
  );
}

const comment = fc.constantFrom('', ' ', ' /* x */ ', ' /* a /* nested */ b */ ', ' -- line\n', '\n');

/** A table reference and one of its columns. */
const relCol = pick(RELATIONS).chain((t) => fc.tuple(fc.constant(t), spell(t), pick(TABLES[t] as readonly string[])));

/** A scalar expression that reads a relation: the thing the oracle hides everywhere. */
function reading(cat: CatalogPick): fc.Arbitrary<string> {
  const sub = relCol.map(([, ref, col]) => `(SELECT ${col}::text FROM ${ref} LIMIT 1)`);
  const viaRow = relCol.map(([, ref]) => `(SELECT row_to_json(x)::text FROM ${ref} x LIMIT 1)`);
  const exists = relCol.map(([, ref]) => `(EXISTS (SELECT 1 FROM ${ref}))::text`);
  const arr = relCol.map(([, ref, col]) => `array_to_string(ARRAY(SELECT ${col}::text FROM ${ref}), ',')`);
  const agg = relCol.map(([, ref, col]) => `(SELECT string_agg(${col}::text, ',' ORDER BY 1) FROM ${ref})`);
  const names = pick(RELATIONS).chain((t) =>
    fc.constantFrom(
      `(SELECT count(*) FROM ${t})::text`,
      `'${t}'::regclass::text`,
      `to_regclass('public.${t}')::text`,
      `query_to_xml('select * from ${t}', true, false, '')::text`,
      `table_to_xml('${t}', true, false, '')::text`,
      `(xpath('/x', '<x/>'))[1]::text || (SELECT count(*) FROM ${t})`,
    ),
  );
  const seq = fc.constantFrom(
    `nextval('public.s')::text`,
    `currval('s')::text`,
    `setval('s', 7)::text`,
    `(SELECT last_value FROM s)::text`,
  );
  const fn = fc.constantFrom(
    `f_add(1, 2)::text`,
    `public.f_add(3, 4)::text`,
    `(SELECT string_agg(x, ',') FROM f_secret() x)`,
    `(SELECT * FROM f_secret() LIMIT 1)`,
  );
  const calls =
    cat.restrictedCalls.length > 0 ? pick(cat.restrictedCalls).map((c) => `(${c})::text`) : fc.constant('1::text');
  const cats =
    cat.restrictedRelations.length > 0
      ? pick(cat.restrictedRelations).map((r) => `(SELECT row_to_json(c)::text FROM ${r} c LIMIT 1)`)
      : fc.constant('2::text');
  return fc.oneof(
    { arbitrary: sub, weight: 6 },
    { arbitrary: viaRow, weight: 2 },
    { arbitrary: exists, weight: 2 },
    { arbitrary: arr, weight: 1 },
    { arbitrary: agg, weight: 1 },
    { arbitrary: names, weight: 3 },
    { arbitrary: seq, weight: 1 },
    { arbitrary: fn, weight: 2 },
    { arbitrary: calls, weight: 2 },
    { arbitrary: cats, weight: 2 },
  );
}

/** A WHERE-ish predicate using `e` (a text expression) somewhere. */
function predicate(e: string): fc.Arbitrary<string> {
  return fc.constantFrom(
    `${e} IS NOT NULL`,
    `coalesce(${e}, '') <> 'zz'`,
    `CASE WHEN ${e} IS NULL THEN true ELSE true END`,
    `'zz' NOT IN (SELECT ${e})`,
    `${e} IS DISTINCT FROM 'zz'`,
    `length(${e}) >= 0 OR true`,
    `(${e}) || '' LIKE '%'`,
  );
}

/** A SELECT that uses `e` at one of many sites. */
function selectWith(e: string): fc.Arbitrary<string> {
  return fc
    .tuple(pick(RELATIONS), comment, predicate(e))
    .chain(([t, c, p]) =>
      fc.constantFrom(
        `SELECT ${e} AS x`,
        `SELECT${c}${e} AS x FROM ${t}`,
        `SELECT id FROM ${t} WHERE ${p}`,
        `SELECT id FROM ${t} ORDER BY ${e}`,
        `SELECT 1 LIMIT length(${e})`,
        `SELECT 1 OFFSET length(coalesce(${e}, '')) - length(coalesce(${e}, ''))`,
        `SELECT count(*) FROM ${t} GROUP BY ${e}`,
        `SELECT count(*) FROM ${t} HAVING ${p}`,
        `SELECT count(*) FILTER (WHERE ${p}) FROM ${t}`,
        `SELECT row_number() OVER (PARTITION BY ${e}) FROM ${t}`,
        `SELECT * FROM (VALUES (${e})) AS v(x)`,
        `SELECT * FROM ${t} a JOIN LATERAL (SELECT ${e} AS x) l ON true`,
        `SELECT * FROM (SELECT ${e} AS x) s`,
        `SELECT x FROM (SELECT ${e} AS x UNION ALL SELECT 'y') u`,
        `SELECT DISTINCT ON (${e}) 1`,
        `SELECT ARRAY[${e}]`,
        `SELECT ROW(${e}, 1)`,
        `SELECT string_agg('a', ',' ORDER BY ${e})`,
        `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ${e})`,
        `SELECT 1 FETCH FIRST length(coalesce(${e}, 'x')) ROWS ONLY`,
        `SELECT * FROM generate_series(1, length(coalesce(${e}, 'x'))) g`,
        `SELECT * FROM ROWS FROM (generate_series(1, 1), unnest(ARRAY[${e}])) r`,
        `SELECT 1 WHERE ${p}`,
        `SELECT ${e} COLLATE "C"`,
        `SELECT (${e})::varchar(5)`,
        `VALUES (${e})`,
      ),
    );
}

/** Ways a masked value (customers.ssn / email) may reach the client: expressions, whole rows, errors. */
const maskedProbe = fc
  .tuple(fc.constantFrom('ssn', 'email', 'c.ssn', 'c.email'), spell('customers'))
  .chain(([col, ref]) => {
    const from = `${ref} c`;
    return fc.constantFrom(
      `SELECT ${col} FROM ${from}`,
      `SELECT upper(${col}), lower(${col}), reverse(${col}) FROM ${from}`,
      `SELECT row_to_json(c) FROM ${from}`,
      `SELECT c FROM ${from}`,
      `SELECT c::text FROM ${from}`,
      `SELECT to_jsonb(c) FROM ${from}`,
      `SELECT ARRAY[c.*] FROM ${from}`,
      `SELECT string_agg(${col}, ',') FROM ${from}`,
      `SELECT jsonb_agg(${col}) FROM ${from}`,
      `SELECT format('%s', ${col}) FROM ${from}`,
      `SELECT concat(${col}) FROM ${from}`,
      `SELECT ${col} || '' FROM ${from}`,
      `SELECT encode(convert_to(${col}, 'UTF8'), 'hex') FROM ${from}`,
      `SELECT encode(convert_to(${col}, 'UTF8'), 'base64') FROM ${from}`,
      `SELECT substr(${col}, 1, 40) FROM ${from}`,
      `SELECT ${col}::int FROM ${from}`,
      `SELECT ${col}::date FROM ${from}`,
      `SELECT ${col}::regclass FROM ${from}`,
      `SELECT ${col}::json FROM ${from}`,
      `SELECT 1 FROM ${from} WHERE ${col}::int = 1`,
      `SELECT xmlelement(name x, ${col}) FROM ${from}`,
      `SELECT (SELECT ${col} FROM ${from} LIMIT 1)`,
      `WITH w AS (SELECT * FROM ${from}) SELECT * FROM w`,
      `SELECT * FROM (SELECT ${col} AS z FROM ${from}) s`,
      `SELECT ${col} FROM ${from} UNION SELECT 'a'`,
      `SELECT * FROM ${from} NATURAL JOIN (SELECT 1 AS id) o`,
      `UPDATE customers SET name = NULL WHERE id = 1`,
      `UPDATE customers SET id = -id WHERE id = 1`,
      `UPDATE customers SET name = name WHERE id = 1 RETURNING *`,
      `DELETE FROM customers WHERE id = 1 RETURNING ${col.replace('c.', '')}`,
      `INSERT INTO customers VALUES (-5, 'x', 'x@y', 'z')`,
      `COPY (SELECT ${col} FROM ${from}) TO STDOUT`,
      `COPY customers TO STDOUT`,
      `COPY customers TO STDOUT WITH (FORMAT binary)`,
      `COPY customers (ssn) TO STDOUT WITH (FORMAT csv, HEADER)`,
      `DECLARE k CURSOR FOR SELECT ${col} FROM ${from}; FETCH ALL FROM k`,
      `PREPARE m AS SELECT ${col} FROM ${from}; EXECUTE m`,
      `EXPLAIN (ANALYZE, VERBOSE) SELECT ${col} FROM ${from}`,
      `SELECT * FROM ${from} ORDER BY ${col}::int`,
      `SELECT json_build_object('k', ${col}) FROM ${from}`,
      `SELECT (c).ssn FROM ${from}`,
      `SELECT (c.*)::text FROM ${from}`,
      `SELECT (SELECT c FROM ${from} LIMIT 1).ssn`,
      `SELECT ((SELECT c FROM ${from} LIMIT 1)).*`,
      `SELECT unnest(ARRAY[${col}]) FROM ${from}`,
      `SELECT * FROM unnest(ARRAY(SELECT ${col} FROM ${from})) u`,
      `SELECT x FROM ${from}, LATERAL (SELECT ${col}) l(x)`,
      `SELECT jsonb_path_query(to_jsonb(c), '$.ssn') FROM ${from}`,
      `SELECT array_agg(c) FROM ${from}`,
      `SELECT max(${col}), min(${col}) FROM ${from}`,
      `SELECT DISTINCT ${col} FROM ${from}`,
      `SELECT ${col} FROM ${from} GROUP BY ${col}`,
      `SELECT first_value(${col}) OVER (ORDER BY c.id) FROM ${from}`,
      `SELECT lag(${col}) OVER (ORDER BY c.id) FROM ${from}`,
      `SELECT greatest(${col}, '') FROM ${from}`,
      `SELECT CASE WHEN true THEN ${col} END FROM ${from}`,
      `SELECT ${col}::bytea FROM ${from}`,
      `SELECT xmlagg(xmlelement(name x, ${col})) FROM ${from}`,
      `SELECT ROW(c.*) FROM ${from}`,
      `SELECT (c.ssn, c.email) FROM ${from}`,
      `SELECT json_populate_record(NULL::customers, row_to_json(c)) FROM ${from}`,
      `SELECT * FROM json_populate_record(NULL::customers, (SELECT row_to_json(c) FROM ${from} LIMIT 1))`,
      `SELECT (SELECT ${col.replace('c.', 'x.')} FROM customers x WHERE x.id = o.customer_id) FROM orders o`,
      `SELECT c.* FROM ${from} JOIN orders USING (id)`,
      `SELECT mode() WITHIN GROUP (ORDER BY ${col}) FROM ${from}`,
      `SELECT ${col} COLLATE "C" FROM ${from}`,
      `SELECT ${col}::varchar(100) FROM ${from}`,
      `SELECT array_to_json(ARRAY[${col}]) FROM ${from}`,
      `SELECT regexp_replace(${col}, 'x', 'x') FROM ${from}`,
      `SELECT ${col} FROM ${from} WHERE ${col} = ANY (SELECT ${col} FROM ${from})`,
      `SELECT (ARRAY[${col}])[1] FROM ${from}`,
      `SELECT (to_jsonb(c))->>'ssn' FROM ${from}`,
      `SELECT to_json(c)->>'email' FROM ${from}`,
      `SELECT quote_literal(${col}) FROM ${from}`,
      `SELECT pg_catalog.textin(pg_catalog.textout(${col})) FROM ${from}`,
      `SELECT * FROM ROWS FROM (unnest(ARRAY(SELECT ${col} FROM ${from})))`,
      `SELECT ${col}::text::regclass FROM ${from}`,
      `SELECT ${col}::regtype FROM ${from}`,
      `SELECT ${col}::regproc FROM ${from}`,
      `SELECT to_regclass(${col}) FROM ${from}`,
      `SELECT ${col}::regoper FROM ${from}`,
      `SELECT ${col}::regoperator FROM ${from}`,
      `SELECT ${col}::regprocedure FROM ${from}`,
      `SELECT ${col}::regconfig FROM ${from}`,
      `SELECT ${col}::regcollation FROM ${from}`,
      `SELECT ${col}::regnamespace FROM ${from}`,
      `SELECT (${col} || '.x')::regproc FROM ${from}`,
      `SELECT (${col} || '.x')::regclass FROM ${from}`,
      `SELECT nextval(${col}) FROM ${from}`,
      `SELECT ${col}::xml FROM ${from}`,
      `SELECT ${col}::inet FROM ${from}`,
      `SELECT ${col}::uuid FROM ${from}`,
      `SELECT ${col}::numeric FROM ${from}`,
      `SELECT ${col}::jsonb FROM ${from}`,
      `SELECT ${col}::tsquery FROM ${from}`,
      `SELECT ${col}::interval FROM ${from}`,
      `SELECT ${col}::bit(3) FROM ${from}`,
      // Names and positions that hide which column a value is.
      `SELECT U&"\\0073sn", U&"e\\006dail" FROM ${from}`,
      `SELECT dd, cc FROM ${ref} AS k(a, b, cc, dd)`,
      `SELECT k.* FROM ${ref} AS k(a, b)`,
      `SELECT j.ssn FROM (${ref} JOIN orders USING (id)) AS j`,
      `SELECT * FROM (${ref} c JOIN orders o ON true) j LIMIT 3`,
      `SELECT 'a', ssn FROM ${ref} UNION ALL SELECT email, 'b' FROM ${ref}`,
      `SELECT ssn(c) FROM ${from}`,
      `SELECT email(c) FROM ${from}`,
      // Writes whose RETURNING, SET or ON CONFLICT carries a masked value of another relation.
      `DELETE FROM notes USING ${from} WHERE notes.id = c.id RETURNING c.ssn`,
      `UPDATE orders SET status = status FROM ${from} WHERE orders.customer_id = c.id RETURNING c.ssn, c.email`,
      `UPDATE notes SET body = c.ssn FROM ${from} WHERE notes.id = c.id RETURNING body`,
      `INSERT INTO notes VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET body = (SELECT ssn FROM ${ref} LIMIT 1) RETURNING body`,
      `MERGE INTO notes n USING ${from} ON n.id = c.id WHEN MATCHED THEN UPDATE SET body = c.ssn`,
      `WITH u AS (UPDATE orders SET status = status WHERE id = 1 RETURNING customer_id) SELECT c.ssn FROM u JOIN ${from} ON c.id = u.customer_id`,
      `PREPARE pp(text) AS SELECT $1; EXECUTE pp((SELECT ssn FROM ${ref} LIMIT 1))`,
    );
  });

/** A statement (possibly several) built around a read. */
export function statement(cat: CatalogPick): fc.Arbitrary<string> {
  const read = reading(cat);
  const sel = read.chain((e) => selectWith(e));
  const direct = relCol.chain(([t, ref, col]) =>
    fc.constantFrom(
      `SELECT * FROM ${ref}`,
      `SELECT ${col} FROM ${ref}`,
      `TABLE ${t}`,
      `SELECT ${t} FROM ${t}`,
      `SELECT (x).* FROM ${t} x`,
      `SELECT * FROM ${ref} TABLESAMPLE SYSTEM (100)`,
      `SELECT * FROM ${t} NATURAL JOIN orders`,
      `SELECT * FROM ${t} FOR UPDATE`,
      `SELECT * FROM ${t} FOR SHARE`,
      `SELECT ${col} FROM ${t} FOR KEY SHARE`,
      `DECLARE c CURSOR FOR SELECT ${col} FROM ${ref}; FETCH ALL FROM c`,
      `COPY ${t.startsWith('v_') ? `(SELECT * FROM ${t})` : t} TO STDOUT`,
      `COPY (SELECT ${col} FROM ${ref}) TO STDOUT WITH (FORMAT csv)`,
      `COPY ${t} FROM STDIN`,
      `COPY ${t} TO '/dev/null'`,
      `LOCK TABLE ${t} IN ACCESS SHARE MODE`,
      `TRUNCATE ${ref}`,
    ),
  );
  const write = fc.tuple(pick(RELATIONS), read, comment).chain(([t, e, c]) => {
    const cols = TABLES[t] as readonly string[];
    const textCol = cols.find((x) => x !== 'id' && x !== 'customer_id' && x !== 'amount') ?? 'id';
    const vals = cols
      .map((x) => (x === 'id' ? '1000' : x === 'customer_id' ? '1' : x === 'amount' ? '1' : `coalesce(${e}, 'v')`))
      .join(', ');
    const setTo = textCol === 'id' ? `id = id + length(coalesce(${e}, ''))` : `${textCol} = coalesce(${e}, 'v')`;
    return fc.constantFrom(
      `INSERT INTO ${t} VALUES (${vals})`,
      `INSERT INTO ${t} VALUES (${vals}) RETURNING *`,
      `INSERT INTO ${t} VALUES (${vals}) ON CONFLICT DO NOTHING`,
      `INSERT INTO ${t} VALUES (${vals}) ON CONFLICT (id) DO UPDATE SET id = excluded.id`,
      `INSERT INTO ${t} (id) SELECT 2000 WHERE ${e} IS NULL`,
      `INSERT INTO ${t} DEFAULT VALUES`,
      `UPDATE ${t} SET${c}${setTo} WHERE id = 1`,
      `UPDATE ${t} SET ${setTo} WHERE id = 1 RETURNING ${textCol}`,
      `UPDATE ${t} SET id = id WHERE id = 1 AND ${e} IS NOT NULL`,
      `UPDATE ${t} SET id = id`,
      `DELETE FROM ${t} WHERE id = 1`,
      `DELETE FROM ${t} WHERE id = 1 RETURNING *`,
      `DELETE FROM ${t} WHERE ${e} IS NULL`,
      `DELETE FROM ${t}`,
      `DELETE FROM ${t} USING orders o WHERE o.id = ${t}.id`,
      `MERGE INTO ${t} d USING (SELECT 1 AS id) s ON d.id = s.id WHEN MATCHED THEN UPDATE SET id = d.id WHEN NOT MATCHED THEN DO NOTHING`,
      `MERGE INTO ${t} d USING (SELECT 1 AS id) s ON d.id = s.id WHEN MATCHED THEN DELETE`,
      `MERGE INTO orders d USING ${t} s ON d.id = s.id WHEN MATCHED THEN DO NOTHING`,
      `WITH w AS (DELETE FROM ${t} WHERE id = 1 RETURNING *) SELECT count(*) FROM w`,
      `WITH w AS (UPDATE ${t} SET id = id WHERE id = 1 RETURNING *) SELECT * FROM w`,
      `WITH w AS (INSERT INTO ${t} VALUES (${vals}) RETURNING id) SELECT * FROM w`,
      `WITH w AS (SELECT ${e} AS x) SELECT * FROM w`,
      `WITH orders AS (SELECT * FROM ${t}) SELECT * FROM orders`,
      `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < length(coalesce(${e}, 'x'))) SELECT * FROM r`,
      `WITH ${t} AS MATERIALIZED (SELECT 1 AS id) SELECT * FROM public.${t}`,
    );
  });
  const settings = fc.constantFrom(
    ...[
      ...cat.superuserSettings.map((n) => `SET LOCAL ${n} TO DEFAULT`),
      ...cat.hiddenSettings.map((n) => `SHOW ${n}`),
      ...cat.hiddenSettings.map((n) => `SELECT current_setting('${n}')`),
      'SHOW ALL',
      'SELECT * FROM pg_settings',
    ],
  );
  const inner = fc.oneof(
    { arbitrary: sel, weight: 5 },
    { arbitrary: direct, weight: 3 },
    { arbitrary: write, weight: 4 },
    { arbitrary: maskedProbe, weight: 3 },
    { arbitrary: settings, weight: 1 },
  );
  const single = inner.filter((s) => !s.includes(';'));
  const wrapped = fc
    .tuple(single, fc.constantFrom('p', 'q1', '"P"'))
    .chain(([s, p]) =>
      fc.constantFrom(
        `EXPLAIN ${s}`,
        `EXPLAIN (ANALYZE, COSTS OFF) ${s}`,
        `EXPLAIN (VERBOSE) ${s}`,
        `PREPARE ${p} AS ${s}; EXECUTE ${p}`,
        `PREPARE ${p}(text) AS SELECT $1 AS x; EXECUTE ${p}((${s.startsWith('SELECT') || s.startsWith('VALUES') ? `SELECT x::text FROM (${s}) q(x) LIMIT 1` : 'SELECT 1'}))`,
        `CREATE TEMP TABLE tt AS ${s.startsWith('SELECT') || s.startsWith('VALUES') ? s : 'SELECT 1'}`,
        `CREATE TEMP VIEW tv AS ${s.startsWith('SELECT') || s.startsWith('VALUES') ? s : 'SELECT 1'}; SELECT * FROM tv`,
        `SELECT 1; ${s}`,
        `${s}; SELECT 1`,
        `/* lead */ ${s} -- trail`,
        `COPY (${s.startsWith('SELECT') || s.startsWith('VALUES') ? s : 'SELECT 1'}) TO STDOUT`,
      ),
    );
  return fc.oneof({ arbitrary: inner, weight: 6 }, { arbitrary: wrapped, weight: 3 });
}

/** A policy: per relation, the operations it allows; and whether CALL on public.f_add is allowed. */
export interface OraclePolicy {
  readonly tables: Readonly<Record<string, readonly string[]>>;
  readonly callAdd: boolean;
}

const OPS = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'COPY_TO', 'COPY_FROM', 'MERGE'] as const;

export const policyArb: fc.Arbitrary<OraclePolicy> = fc.record({
  tables: fc.record({
    ...(Object.fromEntries(RELATIONS.map((t) => [t, fc.subarray([...OPS])])) as Record<
      Relation,
      fc.Arbitrary<string[]>
    >),
    s: fc.subarray(['SELECT', 'UPDATE']), // the sequence public.s
  }),
  callAdd: fc.boolean(),
});
