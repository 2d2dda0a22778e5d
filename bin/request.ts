// `airlock request`: ask for just-in-time access and decide on it (design.md, "AccessRequest"). Talks to
// the Kubernetes API as the caller (kubeconfig, as kubectl finds it); the operator's admission webhook
// stamps who did what (operator/webhook/accessrequest.ts) and the operator computes the phase.
//
// approve/deny/revoke append one entry to status.approvals. A JSON merge patch replaces a whole list,
// so: GET, append, PUT the status subresource with the resourceVersion read; on 409 (someone else wrote
// in between) read again and retry. The webhook's refusal is printed as the API server returns it.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { KubeClient } from '../operator/kube.ts';
import type { KubeResult } from '../operator/kube.ts';
import { DURATION_HINT, parseDuration } from '../policy/duration.ts';
import { kubeTime } from '../policy/identity.ts';
import { OPERATIONS, UNSTAMPED_APPROVER } from '../policy/types.ts';
import type { AccessRequest, AccessRequestApproval, ApprovalDecision, Rule } from '../policy/types.ts';
import { contextNamespace, kubeConfig } from './kubeconfig.ts';

const G = '/apis/airlock.dev/v1alpha1';
/** Retries of a decision when the request changed between our GET and PUT (HTTP 409). */
const CONFLICT_RETRIES = 5;
/** How often `create --wait` looks at the phase. */
const WAIT_POLL_MS = 1000;

const COMMON = `  -n, --namespace NS     default: the kubeconfig context's namespace, else "default"
  --kubeconfig FILE      default: env KUBECONFIG, else in-cluster when running in a pod`;

export const REQUEST_HELP = `usage: airlock request <command> [options]

Just-in-time access: ask for access to a database, and approve, deny or revoke such requests.

commands:
  create     ask for access: one statement, or operations on tables, for a while
  list       the requests of a namespace (or -A: all) as a table
  get        one request in detail, with every decision on it
  approve    approve a request (needs RBAC verb "approve" on accessrequests; never your own)
  deny       deny a request (same permission)
  revoke     end access early: your own request, or any request you may approve

Run \`airlock request <command> --help\` for a command's options.
`;

const HELP: Record<string, string> = {
  create: `usage: airlock request create --database NAME (--statement SQL | --operations OPS --tables GLOBS) [options]

  --database NAME        the DatabaseBinding (in the namespace) to access
  --statement SQL        exactly this one statement
  --operations OPS       comma-separated: ${OPERATIONS.join(', ')}
  --tables GLOBS         comma-separated schema.table globs, e.g. public.orders,audit.*
  --duration D           how long the access lasts once approved, e.g. 15m, 1h (default: the policy's
                         maxDuration; the policy caps it either way)
  --reason TEXT          why, for the approvers
  --subject KIND:NAME    who gets access: User:alice@example.com, Group:dba, ServiceAccount:trainer or
                         ServiceAccount:NS/trainer (default: you, as the API server knows you)
  --wait                 wait until the request is decided; print the phase; exit 0 only when Approved
${COMMON}

Prints the new request's name.
`,
  list: `usage: airlock request list [-A]

  -A, --all-namespaces   every namespace you may list
${COMMON}
`,
  get: `usage: airlock request get NAME

${COMMON}
`,
  approve: `usage: airlock request approve NAME [--comment TEXT]

Records your approval. The operator's webhook records you as the approver (with your groups) and
refuses when you requested the request yourself, it grants you access, you decided on it before, it is
no longer Pending, or RBAC does not give you verb "approve" on accessrequests in the namespace.

  --comment TEXT         up to 1024 characters, kept with your decision
${COMMON}
`,
  deny: `usage: airlock request deny NAME [--comment TEXT]

Records your denial; the same rules as approve.

  --comment TEXT         up to 1024 characters, kept with your decision
${COMMON}
`,
  revoke: `usage: airlock request revoke NAME [--comment TEXT]

Ends access now (or withdraws a pending request): allowed for the requester, the subject, and anyone who
may approve. Live sessions using it are ended.

  --comment TEXT         up to 1024 characters, kept with your decision
${COMMON}
`,
};

export interface RequestIo {
  out(text: string): void;
  err(text: string): void;
}
const processIo: RequestIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** A failure the user can act on: printed as `airlock request <cmd>: <message>`, exit `code`. */
class CliError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

interface Ctx {
  readonly kube: KubeClient;
  readonly namespace: string;
}

const COMMON_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

function connect(values: { namespace?: string | undefined; kubeconfig?: string | undefined }): Ctx {
  let kc;
  try {
    kc = kubeConfig(values.kubeconfig);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let kube: KubeClient;
  try {
    kube = new KubeClient(kc);
  } catch (e) {
    throw new CliError(`kubeconfig: ${(e as Error).message}`);
  }
  return { kube, namespace: values.namespace ?? contextNamespace(kc) ?? 'default' };
}

async function call(ctx: Ctx, method: string, path: string, body?: unknown): Promise<KubeResult> {
  try {
    return await ctx.kube.call(method, path, body);
  } catch (e) {
    throw new CliError(`cannot reach the Kubernetes API server: ${(e as Error).message}`);
  }
}

const messageOf = (r: KubeResult): string =>
  typeof r.body?.message === 'string'
    ? r.body.message
    : `HTTP ${r.status}: ${String(typeof r.body === 'string' ? r.body : JSON.stringify(r.body)).slice(0, 300)}`;

/** The API server's refusal, with what to ask for when RBAC said no. */
function failure(r: KubeResult, what: string, need: string): CliError {
  const msg = messageOf(r);
  // The webhook's refusal already says what to do: verbatim.
  if (/admission webhook .* denied the request/.test(msg)) return new CliError(msg);
  if (r.status === 401)
    return new CliError(`${what}: not authenticated (${msg}); log in again or check the kubeconfig's credentials`);
  if (r.status === 403) return new CliError(`${what}: forbidden: ${msg}; ${need}`);
  return new CliError(`${what}: ${msg}`);
}

async function getRequest(ctx: Ctx, name: string): Promise<AccessRequest> {
  const r = await call(ctx, 'GET', `${G}/namespaces/${ctx.namespace}/accessrequests/${encodeURIComponent(name)}`);
  if (r.status === 404) {
    if (r.body?.details?.kind === 'accessrequests') {
      throw new CliError(
        `AccessRequest ${ctx.namespace}/${name} not found; \`airlock request list -n ${ctx.namespace}\` shows the requests there`,
      );
    }
    throw new CliError(
      `the API server does not serve accessrequests.airlock.dev (HTTP 404): install the Airlock CRDs (charts/airlock)`,
    );
  }
  if (r.status !== 200)
    throw failure(
      r,
      `get AccessRequest ${ctx.namespace}/${name}`,
      `you need verb "get" on accessrequests.airlock.dev in namespace ${ctx.namespace}`,
    );
  return r.body as AccessRequest;
}

/** Who the API server says the caller is (SelfSubjectReview, authentication.k8s.io/v1). */
async function whoAmI(ctx: Ctx): Promise<{ username: string; groups: string[] }> {
  const r = await call(ctx, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  const u = r.body?.status?.userInfo;
  if (r.status !== 201 || typeof u?.username !== 'string')
    throw failure(r, 'find out who you are (SelfSubjectReview)', 'give --subject KIND:NAME instead');
  return { username: u.username, groups: Array.isArray(u.groups) ? u.groups : [] };
}

const SUBJECT_KINDS = ['User', 'Group', 'ServiceAccount'] as const;

export function parseSubject(text: string, namespace: string): AccessRequest['spec']['subject'] {
  const at = text.indexOf(':');
  const kind = SUBJECT_KINDS.find((k) => k.toLowerCase() === text.slice(0, at).toLowerCase());
  const name = text.slice(at + 1);
  if (at < 0 || kind === undefined || name === '') {
    throw new CliError(
      `--subject ${JSON.stringify(text)}: write KIND:NAME with KIND one of ${SUBJECT_KINDS.join(', ')}, e.g. User:alice@example.com or ServiceAccount:trainer`,
      2,
    );
  }
  if (kind !== 'ServiceAccount') return { kind, name };
  const slash = name.indexOf('/');
  return slash < 0 ? { kind, name, namespace } : { kind, name: name.slice(slash + 1), namespace: name.slice(0, slash) };
}

/** The caller as a subject: a ServiceAccount user becomes a ServiceAccount subject. */
function subjectFor(username: string): AccessRequest['spec']['subject'] {
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return sa === null ? { kind: 'User', name: username } : { kind: 'ServiceAccount', name: sa[2]!, namespace: sa[1]! };
}

const list = (text: string): string[] =>
  text
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

async function create(args: string[], io: RequestIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...COMMON_OPTIONS,
      database: { type: 'string' },
      statement: { type: 'string' },
      operations: { type: 'string' },
      tables: { type: 'string' },
      duration: { type: 'string' },
      reason: { type: 'string' },
      subject: { type: 'string' },
      wait: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    io.out(HELP.create!);
    return 0;
  }
  if (positionals.length > 0)
    throw new CliError(`unexpected ${JSON.stringify(positionals[0])}; the name is generated (ar-…)`, 2);
  if (values.database === undefined) throw new CliError('missing --database NAME', 2);
  const byStatement = values.statement !== undefined;
  const byRules = values.operations !== undefined || values.tables !== undefined;
  if (byStatement === byRules)
    throw new CliError('give either --statement SQL, or --operations OPS with --tables GLOBS', 2);
  let rules: Rule[] | undefined;
  if (byRules) {
    if (values.operations === undefined || values.tables === undefined)
      throw new CliError('--operations and --tables go together', 2);
    const ops = list(values.operations).map((o) => o.toUpperCase());
    const bad = ops.filter((o) => !(OPERATIONS as readonly string[]).includes(o));
    if (ops.length === 0 || bad.length > 0)
      throw new CliError(
        `--operations: unknown ${bad.map((b) => JSON.stringify(b)).join(', ') || '(none given)'}; expected some of ${OPERATIONS.join(', ')}`,
        2,
      );
    const tables = list(values.tables);
    if (tables.length === 0) throw new CliError('--tables: give at least one schema.table glob', 2);
    rules = [{ name: 'requested', effect: 'allow', operations: ops as Rule['operations'], tables }];
  }
  if (values.duration !== undefined && !((parseDuration(values.duration) ?? 0) > 0)) {
    throw new CliError(`--duration ${JSON.stringify(values.duration)}: ${DURATION_HINT}`, 2);
  }
  const ctx = connect(values);
  const subject =
    values.subject !== undefined
      ? parseSubject(values.subject, ctx.namespace)
      : subjectFor((await whoAmI(ctx)).username);
  const spec: AccessRequest['spec'] = {
    subject,
    database: values.database,
    ...(rules === undefined ? { statement: values.statement! } : { rules }),
    ...(values.duration === undefined ? {} : { duration: values.duration }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
  };
  const body = {
    apiVersion: 'airlock.dev/v1alpha1',
    kind: 'AccessRequest',
    metadata: { generateName: 'ar-', namespace: ctx.namespace },
    spec,
  };
  const r = await call(ctx, 'POST', `${G}/namespaces/${ctx.namespace}/accessrequests`, body);
  if (r.status !== 201)
    throw failure(
      r,
      `create AccessRequest in namespace ${ctx.namespace}`,
      `you need verb "create" on accessrequests.airlock.dev in namespace ${ctx.namespace} (the Airlock requester ClusterRole)`,
    );
  const name = (r.body as AccessRequest).metadata.name;
  io.out(`${name}\n`);
  if (values.wait !== true) return 0;
  for (;;) {
    const cur = await getRequest(ctx, name);
    const phase = cur.status?.phase ?? 'Pending';
    if (phase !== 'Pending') {
      io.out(`${phase}${cur.status?.message ? `: ${cur.status.message}` : ''}\n`);
      return phase === 'Approved' ? 0 : 1;
    }
    await new Promise((res) => setTimeout(res, WAIT_POLL_MS));
  }
}

async function decide(decision: ApprovalDecision, args: string[], io: RequestIo): Promise<number> {
  const cmd = decision.toLowerCase();
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...COMMON_OPTIONS, comment: { type: 'string' } },
  });
  if (values.help === true) {
    io.out(HELP[cmd]!);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`give exactly one request NAME\n\n${HELP[cmd]}`, 2);
  const name = positionals[0]!;
  const ctx = connect(values);
  const me = await whoAmI(ctx);
  for (let attempt = 0; ; attempt++) {
    const cur = await getRequest(ctx, name);
    const before = cur.status?.approvals ?? [];
    // approver and at are required by the schema; the webhook replaces both with what it knows. The
    // placeholder names nobody, so an entry the webhook never saw is visible as such and counts for no one.
    const entry: AccessRequestApproval = {
      approver: UNSTAMPED,
      decision,
      at: kubeTime(new Date()),
      ...(values.comment === undefined ? {} : { comment: values.comment }),
    };
    const next = { ...cur, status: { ...(cur.status ?? {}), approvals: [...before, entry] } };
    const r = await call(
      ctx,
      'PUT',
      `${G}/namespaces/${ctx.namespace}/accessrequests/${encodeURIComponent(name)}/status`,
      next,
    );
    if (r.status === 409 && attempt < CONFLICT_RETRIES) continue;
    if (r.status !== 200) {
      throw failure(
        r,
        `${cmd} AccessRequest ${ctx.namespace}/${name}`,
        `you need verb "update" on accessrequests/status${decision === 'Revoke' ? '' : ' and verb "approve" on accessrequests'} in namespace ${ctx.namespace} (the Airlock approver ClusterRole)`,
      );
    }
    const saved = ((r.body as AccessRequest).status?.approvals ?? [])[before.length];
    if (saved?.approver !== me.username) {
      throw new CliError(
        `the ${cmd} decision on AccessRequest ${ctx.namespace}/${name} was stored without being checked (approver `
          + `${JSON.stringify(saved?.approver ?? null)}, not ${me.username}): the Airlock operator's admission webhook accessrequests.airlock.dev `
          + 'did not run; ask a cluster admin to install it (charts/airlock) — the decision does not count',
      );
    }
    io.out(`AccessRequest ${ctx.namespace}/${name}: ${PAST[decision]} as ${saved.approver}\n`);
    return 0;
  }
}
const PAST: Record<ApprovalDecision, string> = { Approve: 'approved', Deny: 'denied', Revoke: 'revoked' };
/** What the CLI writes as approver; the webhook overwrites it with the authenticated user. */
export const UNSTAMPED = UNSTAMPED_APPROVER;

/** kubectl-style age: 45s, 12m, 5h, 3d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

function describeSubject(r: AccessRequest): string {
  const s = r.spec.subject;
  return s.kind === 'ServiceAccount'
    ? `ServiceAccount:${s.namespace && s.namespace !== r.metadata.namespace ? `${s.namespace}/` : ''}${s.name}`
    : `${s.kind}:${s.name}`;
}

function describeRules(rules: readonly Rule[]): string {
  return rules
    .map((x) => `${x.operations.join(',')} on ${(x.tables ?? x.functions ?? ['any table']).join(',')}`)
    .join('; ');
}

const clip = (s: string, n: number): string => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= n ? one : `${one.slice(0, n - 1)}…`;
};

function approvalsSummary(a: readonly AccessRequestApproval[]): string {
  if (a.length === 0) return '-';
  const n = (d: ApprovalDecision): number => a.filter((x) => x.decision === d).length;
  return [
    `${n('Approve')} approve`,
    n('Deny') > 0 ? `${n('Deny')} deny` : '',
    n('Revoke') > 0 ? `${n('Revoke')} revoke` : '',
  ]
    .filter((x) => x !== '')
    .join(', ');
}

function expires(r: AccessRequest, nowMs: number): string {
  const at = r.status?.expiresAt;
  if (at === undefined) return '-';
  const left = Date.parse(at) - nowMs;
  return left > 0 ? `in ${age(left)}` : `${age(-left)} ago`;
}

/** The `list` table, one row per request. Exported for tests. */
export function table(items: readonly AccessRequest[], nowMs: number, allNamespaces: boolean): string {
  const head = [
    ...(allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'PHASE',
    'SUBJECT',
    'DATABASE',
    'WHAT',
    'REQUESTED-BY',
    'APPROVALS',
    'EXPIRES',
    'AGE',
  ];
  const rows = items.map((r) => [
    ...(allNamespaces ? [r.metadata.namespace ?? ''] : []),
    r.metadata.name,
    r.status?.phase ?? 'Pending',
    describeSubject(r),
    r.spec.database,
    clip(r.spec.statement ?? describeRules(r.spec.rules ?? []), 48),
    r.spec.requestedBy ?? '-',
    approvalsSummary(r.status?.approvals ?? []),
    expires(r, nowMs),
    r.metadata.creationTimestamp === undefined ? '-' : age(nowMs - Date.parse(r.metadata.creationTimestamp)),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return (
    [head, ...rows]
      .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(width[i]!))).join('   '))
      .join('\n') + '\n'
  );
}

async function listCommand(args: string[], io: RequestIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { ...COMMON_OPTIONS, 'all-namespaces': { type: 'boolean', short: 'A' } },
  });
  if (values.help === true) {
    io.out(HELP.list!);
    return 0;
  }
  if (positionals.length > 0)
    throw new CliError(
      `unexpected ${JSON.stringify(positionals[0])}; for one request use \`airlock request get NAME\``,
      2,
    );
  const ctx = connect(values);
  const all = values['all-namespaces'] === true;
  const r = await call(ctx, 'GET', all ? `${G}/accessrequests` : `${G}/namespaces/${ctx.namespace}/accessrequests`);
  if (r.status === 404)
    throw new CliError(
      'the API server does not serve accessrequests.airlock.dev (HTTP 404): install the Airlock CRDs (charts/airlock)',
    );
  if (r.status !== 200)
    throw failure(
      r,
      `list AccessRequests ${all ? 'in all namespaces' : `in namespace ${ctx.namespace}`}`,
      `you need verb "list" on accessrequests.airlock.dev${all ? ' cluster-wide' : ` in namespace ${ctx.namespace}`}`,
    );
  const items = (r.body.items ?? []) as AccessRequest[];
  if (items.length === 0) {
    io.err(`No AccessRequests ${all ? 'in any namespace' : `in namespace ${ctx.namespace}`}\n`);
    return 0;
  }
  items.sort(
    (a, b) =>
      (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '')
      || (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
  );
  io.out(table(items, Date.now(), all));
  return 0;
}

/** The `get` view. Exported for tests. */
export function details(r: AccessRequest, nowMs: number): string {
  const line = (k: string, v: string): string => `${(k === '' ? '' : `${k}:`).padEnd(14)}${v}\n`;
  const s = r.status ?? {};
  let out =
    line('Name', r.metadata.name) + line('Namespace', r.metadata.namespace ?? '') + line('Phase', s.phase ?? 'Pending');
  if (s.message) out += line('Message', s.message);
  out += line('Subject', describeSubject(r)) + line('Database', r.spec.database);
  if (r.spec.statement !== undefined) out += line('Statement', r.spec.statement);
  for (const [i, x] of (r.spec.rules ?? []).entries())
    out += line(i === 0 ? 'Rules' : '', `${x.name}: ${x.effect} ${describeRules([x])}`);
  if (r.spec.duration !== undefined) out += line('Duration', r.spec.duration);
  if (r.spec.reason !== undefined) out += line('Reason', r.spec.reason);
  out += line('Requested by', r.spec.requestedBy ?? '-');
  if (r.metadata.creationTimestamp)
    out += line(
      'Created',
      `${r.metadata.creationTimestamp} (${age(nowMs - Date.parse(r.metadata.creationTimestamp))} ago)`,
    );
  if (s.expiresAt) out += line('Expires', `${s.expiresAt} (${expires(r, nowMs)})`);
  const approvals = s.approvals ?? [];
  out += line('Approvals', approvals.length === 0 ? 'none yet' : '');
  for (const a of approvals) {
    out +=
      `  ${a.at}  ${a.decision.padEnd(7)}  ${a.approver}${a.groups && a.groups.length > 0 ? ` (groups: ${a.groups.join(', ')})` : ''}`
      + `${a.comment ? `: ${JSON.stringify(a.comment)}` : ''}\n`;
  }
  return out;
}

async function getCommand(args: string[], io: RequestIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, strict: true, options: COMMON_OPTIONS });
  if (values.help === true) {
    io.out(HELP.get!);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`give exactly one request NAME\n\n${HELP.get}`, 2);
  const ctx = connect(values);
  io.out(details(await getRequest(ctx, positionals[0]!), Date.now()));
  return 0;
}

/** `airlock request …`; resolves with the exit code. `io` is for in-process callers (tests). */
export async function requestCommand(args: string[], io: RequestIo = processIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'create':
        return await create(rest, io);
      case 'list':
        return await listCommand(rest, io);
      case 'get':
        return await getCommand(rest, io);
      case 'approve':
        return await decide('Approve', rest, io);
      case 'deny':
        return await decide('Deny', rest, io);
      case 'revoke':
        return await decide('Revoke', rest, io);
      case '--help':
      case '-h':
      case 'help':
        io.out(REQUEST_HELP);
        return 0;
      default:
        io.err(
          sub === undefined
            ? REQUEST_HELP
            : `airlock request: unknown command ${JSON.stringify(sub)}\n\n${REQUEST_HELP}`,
        );
        return 2;
    }
  } catch (e) {
    // CliError: the message is the whole story. Anything else is parseArgs (unknown option, missing value).
    io.err(`airlock request ${sub}: ${(e as Error).message}\n`);
    return e instanceof CliError ? e.code : 2;
  }
}
