// The database every client program of the differential harness starts from, and the policy
// `airlock proxy` enforces in front of it (issue 12: everything on public.* allowed, one masked
// column, pg_catalog.pg_sleep named for the cancel checks).
//
// The objects are created by the upstream role itself (it owns them), so a program may ALTER a
// table (statement-cache invalidation) exactly as an application owning its schema would.
import { localConfigYaml } from '../support/config.ts';

/** The masked column, its strategy, and what that strategy makes of each fixture value (proxy/mask/README.md). */
export const MASKED_COLUMN = 'public.customers.email';
export const MASKED_VALUES: ReadonlyMap<string, string> = new Map([
  ['ava.costa@example.org', 'a***@example.org'],
  ['liam.johansson@example.net', 'l***@example.net'],
  ['sofia.haddad@example.com', 's***@example.com'],
]);

export const FIXTURE_SQL = `
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE public.pair AS (label text, qty int);

CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE);
INSERT INTO public.customers VALUES
  (1, 'Ava Costa', 'ava.costa@example.org'),
  (2, 'Liam Johansson', 'liam.johansson@example.net'),
  (3, 'Sofia Haddad', 'sofia.haddad@example.com');

CREATE TABLE public.typed (
  id int PRIMARY KEY, n numeric, ts timestamptz, j json, jb jsonb, ia int[], ta text[], b bytea,
  m public.mood, p public.pair, d date, u uuid, f8 float8, i8 bigint, bo bool, iv interval, t text);
INSERT INTO public.typed VALUES
  (1, 12345678901234567890.123456789, '2024-02-29 12:34:56.789012+02', '{"a": [1, 2.5, "x"], "b": null}',
   '{"k": {"nested": true}, "n": 1e3}', '{1,2,3}', '{"a b","c,d",NULL,"é"}', '\\x00ff10', 'happy', '("x y",3)',
   '2000-01-01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5, 9007199254740993, true, '1 day 02:03:04.5', 'plain'),
  (2, 'NaN', '1999-12-31 23:59:59+00', '[]', '[]', '{}', '{}', '\\x', 'sad', '(,)',
   '1970-01-01', '00000000-0000-0000-0000-000000000000', -0.25, -1, false, '-3 months', 'ünïcödé ✓'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE public.items (id serial PRIMARY KEY, label text NOT NULL UNIQUE, qty int NOT NULL CHECK (qty >= 0), note text);
INSERT INTO public.items (label, qty, note) VALUES ('bolt', 10, 'steel'), ('nut', 20, NULL), ('washer', 0, 'tab\there');

CREATE TABLE public.copied (id int, label text, qty int, note text);

CREATE TABLE public.big AS SELECT g AS id, md5(g::text) AS v, g * 0.5 AS half FROM generate_series(1, 20000) g;
ALTER TABLE public.big ADD PRIMARY KEY (id);

CREATE FUNCTION public.noisy(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'noisy called with %', n USING HINT = 'just a notice';
  RAISE WARNING 'noisy warns';
  RETURN n * 2;
END $$;
CREATE FUNCTION public.fail_with(code text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'failing on purpose with %', code USING ERRCODE = code, DETAIL = 'the detail', HINT = 'the hint';
END $$;
`;

export const POLICY = `
apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: clients, namespace: team }
spec:
  subjects: [{ kind: ServiceAccount, name: app, namespace: team }]
  databases: [shop]
  rules:
    - { name: everything-public, effect: allow, operations: [ALL], tables: ["public.*"] }
    - { name: public-functions, effect: allow, operations: [CALL], functions: ["public.*"] }
    - { name: sleep, effect: allow, operations: [CALL], functions: ["pg_catalog.pg_sleep"] }
    - { name: notify, effect: allow, operations: [NOTIFY], channels: ["*"] }
  masking:
    - { columns: ["${MASKED_COLUMN}"], strategy: partial }
`;

export const IDENTITY = 'system:serviceaccount:team:app';

export function configYaml(
  db: { host: string; port: number; database: string },
  role: { user: string; password: string },
): string {
  return localConfigYaml({ endpoint: db, role, policy: POLICY });
}
