#!/usr/bin/env -S node
// The `airlock` CLI. Needs Node.js >= 24 (type stripping): the machine's `node` may be older, so
// `npm start` / `npm test` run it through scripts/node24.sh; by hand: `sh scripts/node24.sh bin/airlock.ts …`.
// Subcommands: proxy, operator, demo, validate, policy, audit, request, version (each with --help). node:util parseArgs, no other dependency.
// Subcommands load their own dependencies (operator: Kubernetes client; sidecar: gRPC; metrics: prom-client)
// when they run, so a local proxy's idle memory carries none of them.
import { parseArgs } from 'node:util';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Local mode's config parsing (policy/config.ts: the YAML parser, ~70 modules and ~10 MiB of RSS) and the proxy
// itself are imported by the subcommands that use them: the sidecar (`proxy --operator`) gets its policy over
// gRPC and never parses YAML.
import type { LocalOptions } from '../proxy/local.ts';
import { LIMIT_FLAGS, LIMIT_HELP, parseLimitFlags } from '../proxy/run.ts';

const USAGE = `usage: airlock <command> [options]

commands:
  proxy      run the policy-enforcing PostgreSQL proxy from a local config file, or as a sidecar
             with --operator (policy from the Airlock operator)
  operator   run the Kubernetes operator: controllers, sidecar-injection webhook, policy distribution
  demo       run the proxy in front of an embedded demo database (what \`npm start\` does)
  validate   check config files (or, with --manifests, GitOps files) and print every problem
  policy     decide statements offline: \`policy test\` (cases, for CI) and \`policy explain\`
  audit      read the audit trail: \`airlock audit tail\`
  request    ask for just-in-time access, and approve, deny or revoke it (AccessRequests)
  version    print the version

Run \`airlock <command> --help\` for a command's options. Installed as kubectl-airlock on the PATH, the
same CLI is the kubectl plugin \`kubectl airlock\` (docs/policy-testing.md).
`;

const PROXY_HELP = `usage: airlock proxy --config FILE --identity SUBJECT [options]

  --config FILE             multi-document YAML: DatabaseBinding, AccessPolicy and Secret documents,
                            exactly as applied to a cluster; reloaded when it changes
  --identity SUBJECT        Kubernetes user name the session acts as, e.g. system:serviceaccount:ml:trainer
  --group G                 a group of SUBJECT (repeatable)
  --listen HOST:PORT        where clients connect (default 127.0.0.1:6432)
  --upstream URL            postgres://host:port/database: overrides the binding's endpoint; a user and
                            password in the URL are used only when the binding's Secret is absent
  --binding NAME            the DatabaseBinding to serve when FILE holds several
  --audit-endpoint URL      OTLP endpoint for audit spans, overriding the binding's spec.audit.otlpEndpoint
                            (grpc; http/protobuf when the URL ends in /v1/traces)
  --audit-spool DIR         spool directory for audit spans (default: a directory under the temp dir when
                            an endpoint is set; audit is off when there is neither an endpoint nor a spool)
  --max-statement-bytes N   refuse Query/Parse text larger than N bytes with 54000 (default 1048576)
  --metrics-listen HOST:PORT
                            serve Prometheus metrics at http://HOST:PORT/metrics (off by default)
  --tls-cert FILE, --tls-key FILE
                            accept TLS from clients (SSLRequest answered 'S')
${LIMIT_HELP}
Prints "airlock: listening on HOST:PORT" when ready. Clients may log in with any user name and password.
Sidecar mode (policy from the operator): airlock proxy --operator HOST:PORT --binding NS/NAME --help
`;

const DEMO_HELP = `usage: airlock demo [--listen HOST:PORT] [--identity SUBJECT]

Starts an embedded PostgreSQL (PGlite, in memory, seeded with examples/demo-seed.sql) and the proxy in
front of it with examples/orders.yaml, as identity system:serviceaccount:ml:trainer.
`;

const VALIDATE_HELP = `usage: airlock validate [--manifests] FILE|DIR...

Checks each file as \`airlock proxy --config\` would and prints every problem, one per line, as
FILE:LINE:COLUMN: Kind namespace/name: field.path: what is wrong. Exit 1 when any is found.

  --manifests   check the files as a GitOps repository holds them, all together: documents of other
                kinds (Namespace, Job, …) are skipped, a binding's Secret need not be in the files, a
                policy's databases must name a DatabaseBinding in one of them; a directory means every
                .yaml/.yml file under it
`;

const AUDIT_HELP = `usage: airlock audit tail [--spool DIR | --file FILE] [-n N]

Prints the most recent audited statements as a table, oldest first (time, subject, decision, operation,
collection, rows, policy/rule, query text).

  --spool DIR   an audit spool directory (\`airlock proxy --audit-spool\`): records not yet deleted after export
  --file FILE   an OTLP JSON export, e.g. what the OpenTelemetry Collector's file exporter writes
  -n N          how many statements (default 20)
`;

async function auditCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      spool: { type: 'string' },
      file: { type: 'string' },
      n: { type: 'string', short: 'n' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true || positionals.length === 0) {
    (values.help === true ? process.stdout : process.stderr).write(AUDIT_HELP);
    return values.help === true ? 0 : 2;
  }
  if (positionals.length !== 1 || positionals[0] !== 'tail') {
    process.stderr.write(`airlock audit: unknown subcommand ${JSON.stringify(positionals.join(' '))}\n\n${AUDIT_HELP}`);
    return 2;
  }
  if ((values.spool === undefined) === (values.file === undefined)) {
    process.stderr.write(`airlock audit tail: give exactly one of --spool DIR or --file FILE\n\n${AUDIT_HELP}`);
    return 2;
  }
  const limit = values.n === undefined ? 20 : Number(values.n);
  if (!Number.isInteger(limit) || limit < 1) {
    process.stderr.write(`airlock audit tail: -n must be a positive integer\n`);
    return 2;
  }
  let lines: string[];
  try {
    const { auditTail } = await import('../audit/tail.ts');
    lines = auditTail({
      ...(values.spool === undefined ? {} : { spoolDir: values.spool }),
      ...(values.file === undefined ? {} : { file: values.file }),
      limit,
    });
  } catch (e) {
    process.stderr.write(`airlock ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function proxyCommand(args: string[]): Promise<number> {
  // --operator selects sidecar mode (bin/sidecar.ts): its flags are those the webhook injects.
  if (args.some((a) => a === '--operator' || a.startsWith('--operator=')))
    return (await import('./sidecar.ts')).sidecarCommand(args);
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: {
      config: { type: 'string' },
      identity: { type: 'string' },
      group: { type: 'string', multiple: true },
      listen: { type: 'string' },
      upstream: { type: 'string' },
      binding: { type: 'string' },
      'audit-endpoint': { type: 'string' },
      'audit-spool': { type: 'string' },
      'max-statement-bytes': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'metrics-listen': { type: 'string' },
      ...LIMIT_FLAGS,
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    process.stdout.write(PROXY_HELP);
    return 0;
  }
  const missing = [
    values.config === undefined ? '--config FILE' : null,
    values.identity === undefined ? '--identity SUBJECT' : null,
  ].filter((x) => x !== null);
  if (missing.length > 0) {
    process.stderr.write(`airlock proxy: missing ${missing.join(' and ')}\n\n${PROXY_HELP}`);
    return 2;
  }
  let maxStatementBytes: number | undefined;
  if (values['max-statement-bytes'] !== undefined) {
    maxStatementBytes = Number(values['max-statement-bytes']);
    if (!Number.isInteger(maxStatementBytes) || maxStatementBytes < 1) {
      process.stderr.write(`airlock proxy: --max-statement-bytes must be a positive integer\n`);
      return 2;
    }
  }
  let limits;
  try {
    limits = parseLimitFlags(values);
  } catch (e) {
    process.stderr.write(`airlock proxy: ${(e as Error).message}\n`);
    return 2;
  }
  const opts: LocalOptions = {
    ...limits,
    config: values.config!,
    identity: values.identity!,
    groups: values.group ?? [],
    ...(values.listen === undefined ? {} : { listen: values.listen }),
    ...(values.upstream === undefined ? {} : { upstream: values.upstream }),
    ...(values.binding === undefined ? {} : { binding: values.binding }),
    ...(values['audit-endpoint'] === undefined ? {} : { auditEndpoint: values['audit-endpoint'] }),
    ...(values['audit-spool'] === undefined ? {} : { auditSpool: values['audit-spool'] }),
    ...(maxStatementBytes === undefined ? {} : { maxStatementBytes }),
    ...(values['tls-cert'] === undefined ? {} : { tlsCert: values['tls-cert'] }),
    ...(values['tls-key'] === undefined ? {} : { tlsKey: values['tls-key'] }),
    ...(values['metrics-listen'] === undefined ? {} : { metricsListen: values['metrics-listen'] }),
  };
  return serve(opts);
}

async function serve(opts: LocalOptions, after?: (address: { host: string; port: number }) => void): Promise<number> {
  const log = (m: string): void => {
    process.stderr.write(`${m}\n`);
  };
  let running;
  try {
    const [{ loadAnalyzer }, { runLocalProxy }] = await Promise.all([
      import('../proxy/enforce/analyzer.ts'),
      import('../proxy/local.ts'),
    ]);
    running = await runLocalProxy(opts, await loadAnalyzer(), log);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  const { host, port } = running.proxy.address;
  process.stdout.write(`airlock: listening on ${host.includes(':') ? `[${host}]` : host}:${port}\n`);
  after?.({ host, port });
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void running.stop().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: { listen: { type: 'string' }, identity: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const { startDemoDatabase } = await import('../proxy/demo-db.ts');
  const db = await startDemoDatabase();
  const config = fileURLToPath(new URL('../examples/orders.yaml', import.meta.url));
  const code = await serve(
    {
      config,
      identity: values.identity ?? 'system:serviceaccount:ml:trainer',
      listen: values.listen ?? '127.0.0.1:6432',
      upstream: `postgres://${db.user}:${db.password}@${db.host}:${db.port}/${db.database}`,
    },
    ({ host, port }) => {
      process.stdout.write(`
Connect:   psql "host=${host} port=${port} dbname=orders user=trainer"
           (any user name and password; the proxy logs in upstream with the binding's Secret)
Try:
  1. a masked select:          SELECT name, email, ssn FROM customers LIMIT 3;
  2. a blocked DROP:           DROP TABLE orders;
  3. a blocked unfiltered DELETE/UPDATE:
                               UPDATE orders SET status = 'cancelled';
Edit examples/orders.yaml while connected: the policy reloads on save.
`);
    },
  );
  await db.stop();
  return code;
}

async function validateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { manifests: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    process.stdout.write(VALIDATE_HELP);
    return 0;
  }
  if (positionals.length === 0) {
    process.stderr.write(`airlock validate: no FILE given\n\n${VALIDATE_HELP}`);
    return 2;
  }
  const { parseConfig, parseManifests } = await import('../policy/config.ts');
  if (values.manifests === true) return validateManifests(positionals, parseManifests);
  let problems = 0;
  for (const file of positionals) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      process.stdout.write(`${file}: cannot read: ${(e as NodeJS.ErrnoException).message}\n`);
      problems++;
      continue;
    }
    const r = parseConfig(text, file);
    if (r.ok) {
      process.stdout.write(
        `${file}: ok (${r.bindings.length} DatabaseBinding, ${r.policies.length} AccessPolicy, ${r.secrets.length} Secret)\n`,
      );
      continue;
    }
    for (const e of r.errors) process.stdout.write(`${e}\n`);
    problems += r.errors.length;
  }
  return problems > 0 ? 1 : 0;
}

function validateManifests(
  paths: readonly string[],
  parseManifests: typeof import('../policy/config.ts').parseManifests,
): number {
  const files: { text: string; source: string }[] = [];
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort())
        if (!e.startsWith('.')) {
          const q = join(p, e);
          if (statSync(q).isDirectory() || /\.ya?ml$/.test(e)) walk(q);
        }
    } else files.push({ source: p, text: readFileSync(p, 'utf8') });
  };
  try {
    for (const p of paths) walk(p);
  } catch (e) {
    process.stdout.write(`${(e as Error).message}\n`);
    return 1;
  }
  const r = parseManifests(files);
  if (!r.ok) {
    for (const e of r.errors) process.stdout.write(`${e}\n`);
    return 1;
  }
  process.stdout.write(
    `${files.length} file(s): ok (${r.bindings.length} DatabaseBinding, ${r.policies.length} AccessPolicy, ${r.requests.length} AccessRequest; ${r.others.length} other document(s) skipped)\n`,
  );
  return 0;
}

/**
 * kubectl runs a plugin named kubectl-airlock for `kubectl airlock …` (kubectl.io plugin discovery: an
 * executable of that name on the PATH, arguments after the plugin name passed as they are, KUBECONFIG
 * and the environment inherited). Installed under that name (package.json "bin", or a symlink to this
 * file), the CLI takes kubectl-flavoured shortcuts as well as every usual command.
 */
const PLUGIN_NAME = 'kubectl-airlock';
const PLUGIN_USAGE = `usage: kubectl airlock <command> [options]

commands (the same as \`airlock <command>\`, with shortcuts):
  request    create, list, get, approve, deny or revoke AccessRequests
  approve    = request approve NAME     deny = request deny NAME     revoke = request revoke NAME
  explain    = policy explain: how the sidecar would decide a statement, offline
  test       = policy test: run policy test cases, offline
  validate   check policy files and print every problem with its line and column
  policy, proxy, operator, audit, version

Cluster commands use your kubeconfig as kubectl does (KUBECONFIG, or --kubeconfig). Run
\`kubectl airlock <command> --help\` for a command's options.
`;

/** Shortcuts of the kubectl plugin, rewritten to the CLI's own commands. */
function pluginArgs(argv: string[]): string[] | null {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      return null;
    case 'approve':
    case 'deny':
    case 'revoke':
      return ['request', cmd, ...rest];
    case 'explain':
    case 'test':
      return ['policy', cmd, ...rest];
    default:
      return argv;
  }
}

async function main(argv: string[]): Promise<number> {
  if (basename(process.argv[1] ?? '').replace(/\.(ts|js)$/, '') === PLUGIN_NAME) {
    const mapped = pluginArgs(argv);
    if (mapped === null) {
      (argv.length === 0 ? process.stderr : process.stdout).write(PLUGIN_USAGE);
      return argv.length === 0 ? 2 : 0;
    }
    argv = mapped;
  }
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'proxy':
        return await proxyCommand(rest);
      case 'demo':
        return await demoCommand(rest);
      case 'operator':
        return await (await import('./operator.ts')).operatorCommand(rest);
      case 'request':
        return await (await import('./request.ts')).requestCommand(rest);
      case 'validate':
        return await validateCommand(rest);
      case 'policy':
        return await (await import('./policy.ts')).policyCommand(rest);
      case 'audit':
        return await auditCommand(rest);
      case 'version':
      case '--version':
        process.stdout.write(`airlock ${version()}\n`);
        return 0;
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(cmd === undefined ? USAGE : `airlock: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    // parseArgs: unknown option, missing value.
    process.stderr.write(`airlock ${cmd}: ${(e as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
