// A real PostgreSQL database, an unprivileged upstream role, the proxy in front of it (in this process,
// started from a local-mode YAML exactly as `airlock proxy` does), and probes that show whether anything
// reached the database: statement-level triggers and DDL event triggers write to probe.writes, and the
// database logs every statement (log_statement=all) so a marker in a denied statement can be looked for.
import { readFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { testDatabase, createRole, uniqueName, adminQuery, quoteIdent } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { localConfigYaml } from '../support/config.ts';
import { loadLocalConfig } from '../../proxy/local.ts';
import type { LocalConfig } from '../../proxy/local.ts';
import { policyState } from '../../proxy/enforce/gate.ts';
import { loadAnalyzer } from '../../proxy/enforce/analyzer.ts';
import { startProxy } from '../../proxy/server.ts';
import type { Proxy, ProxyOptions } from '../../proxy/server.ts';
import { makeIdentity } from '../../policy/identity.ts';
import type { AuditSink, StatementRecord } from '../../audit/types.ts';

export const IDENTITY = 'system:serviceaccount:team:trainer';

export const SCHEMA = `
CREATE SCHEMA probe;
CREATE TABLE probe.writes (id serial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL);
CREATE FUNCTION probe.record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN INSERT INTO probe.writes (tbl, op) VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
CREATE FUNCTION probe.record_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN INSERT INTO probe.writes (tbl, op) VALUES ('(ddl)', tg_tag); END $$;
CREATE EVENT TRIGGER probe_ddl ON ddl_command_start EXECUTE FUNCTION probe.record_ddl();
CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE, ssn text NOT NULL);
CREATE TABLE public.orders (id serial PRIMARY KEY, customer_id int NOT NULL, amount numeric(10,2) NOT NULL, status text NOT NULL);
CREATE TABLE public.secrets (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE public.big (id int PRIMARY KEY, v text);
INSERT INTO public.customers VALUES
  (1, 'Ava Costa', 'ava.costa@example.org', '919-56-7042'),
  (2, 'Liam Johansson', 'liam.johansson@example.net', '915-16-7669'),
  (3, 'Sofia Haddad', 'sofia.haddad@example.com', '915-13-4325');
INSERT INTO public.orders (customer_id, amount, status)
  SELECT 1 + i % 3, i * 10, 'pending' FROM generate_series(1, 20) i;
INSERT INTO public.secrets VALUES (1, 'top secret');
CREATE TRIGGER w AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.customers FOR EACH STATEMENT EXECUTE FUNCTION probe.record();
CREATE TRIGGER w AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.orders FOR EACH STATEMENT EXECUTE FUNCTION probe.record();
CREATE TRIGGER w AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.secrets FOR EACH STATEMENT EXECUTE FUNCTION probe.record();
`;

export const POLICY = `
apiVersion: airlock.dev/v1alpha1
kind: AccessPolicy
metadata: { name: trainer, namespace: team }
spec:
  subjects: [{ kind: ServiceAccount, name: trainer, namespace: team }]
  databases: [shop]
  rules:
    - { name: read-app-tables, effect: allow, operations: [SELECT, COPY_TO], tables: ["public.customers", "public.orders", "public.big"] }
    - { name: write-orders, effect: allow, operations: [INSERT, UPDATE, DELETE, COPY_FROM], tables: ["public.orders", "public.big"] }
    - { name: add-customers, effect: allow, operations: [INSERT], tables: ["public.customers"] }
    - { name: no-deletes, effect: deny, operations: [DELETE], tables: ["public.customers"] }
    - { name: no-destructive, effect: deny, operations: [DROP, TRUNCATE] }
    - { name: sleep, effect: allow, operations: [CALL], functions: ["pg_catalog.pg_sleep"] }
  masking:
    - { columns: ["public.customers.email"], strategy: partial }
    - { columns: ["public.customers.ssn"], strategy: redact }
  guardrails: { blockUnfilteredWrites: true, maxAffectedRows: 5 }
`;

export function configYaml(
  db: { host: string; port: number; database: string },
  role: { user: string; password: string },
  policy = POLICY,
): string {
  return localConfigYaml({ endpoint: db, role, policy });
}

/** An AuditSink that keeps records in memory, for assertions. */
export class MemoryAudit implements AuditSink {
  readonly records: StatementRecord[] = [];
  accept = true;
  sessionStarted(): void {}
  statement(r: StatementRecord): boolean {
    this.records.push({ ...r }); // the proxy reuses `r` (AuditSink.statement)
    return this.accept;
  }
  sessionEnded(): void {}
  accepting(): boolean {
    return this.accept;
  }
  async close(): Promise<void> {}
}

export interface Harness {
  readonly db: TestDatabase;
  readonly role: { user: string; password: string };
  readonly proxy: Proxy;
  readonly port: number;
  readonly audit: MemoryAudit;
  config: LocalConfig;
  /** A connected pg client through the proxy. */
  client(extra?: Partial<pg.ClientConfig>): Promise<pg.Client>;
  /** Superuser query on the test database, directly. */
  admin(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Rows written to probe.writes so far (any executed write or DDL adds one). */
  writes(): Promise<number>;
  /** Lines of the server log that contain `marker` (log_statement=all on this database). */
  logged(marker: string): string[];
  /** Replace the policy part of the YAML (new generation). */
  reload(policy: string): void;
  stop(): Promise<void>;
}

let generation = 1;

export async function startHarness(
  opts: { policy?: string; md5?: boolean; proxy?: Partial<ProxyOptions> } = {},
): Promise<Harness> {
  const db = await testDatabase('proxy');
  const role = await createRole(uniqueName('app'), uniqueName('pw'), { md5: opts.md5 === true });
  const admin = (sql: string, params?: unknown[]) => withDb(db, sql, params);
  await admin(SCHEMA);
  await admin(`GRANT USAGE ON SCHEMA public TO ${quoteIdent(role.user)};
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO ${quoteIdent(role.user)};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${quoteIdent(role.user)};
    GRANT CREATE ON SCHEMA public TO ${quoteIdent(role.user)};`);
  await adminQuery(db.server, `ALTER DATABASE ${quoteIdent(db.database)} SET log_statement = 'all'`);
  const yaml = (policy: string) => configYaml({ host: db.host, port: db.port, database: db.database }, role, policy);
  const gen = generation++;
  const loaded = loadLocalConfig(yaml(opts.policy ?? POLICY), 'test.yaml', {}, gen * 1000);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const analyzer = await loadAnalyzer();
  const audit = new MemoryAudit();
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    target: loaded.config.target,
    identity: makeIdentity(IDENTITY),
    state: policyState(loaded.config.set, analyzer),
    audit,
    log: () => {},
    ...opts.proxy,
  });
  const clients: pg.Client[] = [];
  let reloads = 0;
  const h: Harness = {
    db,
    role,
    proxy,
    port: proxy.address.port,
    audit,
    config: loaded.config,
    async client(extra = {}) {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: proxy.address.port,
        user: 'whoever',
        password: 'anything',
        database: 'shop',
        ...extra,
      });
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
      return c;
    },
    admin,
    async writes() {
      return Number((await admin('SELECT count(*) AS n FROM probe.writes')).rows[0].n);
    },
    logged(marker) {
      const file = join(db.server.dir, 'postgres.log');
      if (!existsSync(file)) throw new Error(`server log ${file} not found`);
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes(marker));
    },
    reload(policy) {
      const next = loadLocalConfig(yaml(policy), 'test.yaml', {}, gen * 1000 + ++reloads);
      if (!next.ok) throw new Error(next.errors.join('\n'));
      h.config = next.config;
      proxy.reload(policyState(next.config.set, analyzer), next.config.target);
    },
    async stop() {
      for (const c of clients) await c.end().catch(() => {});
      await proxy.close();
      await db.drop();
    },
  };
  return h;
}

async function withDb(db: TestDatabase, sql: string, params?: unknown[]): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/**
 * Run psql against the proxy; resolves with exit code and output. Asynchronous: the proxy runs in this
 * process, so a synchronous spawn would block the very event loop psql is waiting on.
 */
export function psql(h: Harness, args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return runPsql(['-h', '127.0.0.1', '-p', String(h.port), '-U', 'whoever', '-d', 'shop', ...args], input);
}

/** Run psql (-X, ON_ERROR_STOP) with these arguments, asynchronously; any password is accepted by the proxy. */
export function runPsql(args: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', ...args], {
      env: { ...process.env, PGPASSWORD: 'x', PGCONNECT_TIMEOUT: '10' },
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
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
    child.stdin.end(input ?? '');
  });
}

export function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Wait until `check` is true (polling), or throw after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The pg error of a query that must fail. */
export async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; detail?: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; detail?: string };
  }
  throw new Error('expected the query to fail, it succeeded');
}
