// `airlock policy test` and `airlock policy explain`: decisions offline, for code review and CI. The
// policies are read as they sit in Git (policy/config.ts parseManifests: other kinds skipped, Secrets not
// needed); statements are analysed with the proxy's own parser and decided by the same policy/ code the
// sidecar runs (policy/explain.ts). No database: name resolution assumes search_path `public` (per case
// `searchPath`) and PostgreSQL 15's pg_catalog; approvals are not looked up (an approve rule reports
// `approve`, which is what the sidecar would hold and ask for).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { analyze } from '../policy/analyze/analyze.ts';
import { loadParser } from '../proxy/enforce/analyzer.ts';
import { mismatches, parseCases } from '../policy/cases.ts';
import type { PolicyCase } from '../policy/cases.ts';
import { compile, selectFor } from '../policy/compile.ts';
import { parseManifests } from '../policy/config.ts';
import { explainWith, offlineContext } from '../policy/explain.ts';
import type { Explanation } from '../policy/explain.ts';
import { makeIdentity } from '../policy/identity.ts';
import type { AccessPolicy, CompiledPolicySet, DatabaseBinding } from '../policy/types.ts';

export const POLICY_HELP = `usage: airlock policy <command> [options]

Decide statements offline against policy files, as the sidecar would; for code review and CI.

commands:
  test      run the cases of a CASES.yaml file against policies; exit 1 on any mismatch
  explain   show how one statement is decided: its pairs, the rules that matched each, the masking

Run \`airlock policy <command> --help\` for a command's options.
`;

const TEST_HELP = `usage: airlock policy test FILE|DIR... --cases CASES.yaml [--format tap|junit] [--output FILE]

Runs every case of CASES.yaml (repeatable) against the AccessPolicies and DatabaseBindings in the files
(a directory: every .yaml/.yml file under it; documents of other kinds are skipped) and checks the
decision (allow | warn | approve | deny), the policy and rule that decided, a part of the reason, and
the masking. Exit 0 when every case passes, 1 when any fails, 2 on a bad file.

  --cases FILE      test cases (repeatable); format in docs/policy-testing.md:
                      defaults: { identity: system:serviceaccount:ml:trainer, database: orders }
                      cases:
                        - name: trainer reads customers, e-mails masked
                          sql: SELECT id, email FROM public.customers
                          expect: { decision: allow, rule: read-app-tables,
                                    masked: { public.customers.email: partial } }
  --format F        tap (default) or junit (JUnit XML, for GitLab's junit report and CI test tabs)
  --output FILE     write the report there instead of stdout (a one-line summary still goes to stderr)

Offline assumptions: search_path public (a case may set searchPath), PostgreSQL 15's pg_catalog names,
no approved AccessRequests.
`;

const EXPLAIN_HELP = `usage: airlock policy explain FILE|DIR... --identity SUBJECT [--group G]... [--database NAME] [--search-path S,...] [--json] "SQL"

Prints how the sidecar would decide SQL for SUBJECT: the policies that apply, each (operation, object)
pair the statement touches with the rules that matched it and the outcome, the masking of each output
column, and the verdict.

  --identity SUBJECT   a Kubernetes user name, e.g. system:serviceaccount:ml:trainer or alice@example.com
  --group G            a group of SUBJECT (repeatable)
  --database NAME      the DatabaseBinding (default: the only one in the files)
  --search-path S,...  schemas for unqualified names (default: public)
  --json               the explanation as JSON
`;

function listFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        if (e.startsWith('.')) continue;
        const q = join(p, e);
        if (statSync(q).isDirectory()) walk(q);
        else if (/\.ya?ml$/.test(e)) out.push(q);
      }
    } else out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

interface Loaded {
  readonly policies: AccessPolicy[];
  readonly bindings: DatabaseBinding[];
  readonly set: CompiledPolicySet;
}

function load(paths: readonly string[], cmd: string): Loaded | null {
  let files: { text: string; source: string }[];
  try {
    files = listFiles(paths).map((source) => ({ source, text: readFileSync(source, 'utf8') }));
  } catch (e) {
    process.stderr.write(`airlock policy ${cmd}: ${(e as Error).message}\n`);
    return null;
  }
  const r = parseManifests(files);
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${e}\n`);
    process.stderr.write(`airlock policy ${cmd}: ${r.errors.length} problem(s) in the policy files\n`);
    return null;
  }
  if (r.policies.length === 0) {
    process.stderr.write(`airlock policy ${cmd}: no AccessPolicy in ${paths.join(', ')}\n`);
    return null;
  }
  return { policies: r.policies, bindings: r.bindings, set: compile(r.policies, 1) };
}

/** The binding a decision is for: the one given, or the only one the files make sensible. */
function pickDatabase(l: Loaded, given: string | null): { name: string } | { error: string } {
  if (given !== null) return { name: given };
  const names = new Set(l.bindings.map((b) => b.metadata.name));
  if (names.size === 0) for (const p of l.policies) for (const d of p.spec.databases) if (d !== '*') names.add(d);
  if (names.size === 1) return { name: [...names][0] as string };
  return {
    error:
      names.size === 0
        ? 'no DatabaseBinding in the files and no policy names one: give --database NAME (or database: in the case)'
        : `the files hold several databases (${[...names].sort().join(', ')}): give --database NAME (or database: in the case)`,
  };
}

function decideOffline(
  l: Loaded,
  user: string,
  groups: readonly string[],
  database: string,
  searchPath: readonly string[],
  sql: string,
): Explanation {
  const identity = makeIdentity(user, groups);
  const ctx = offlineContext(identity, database, searchPath);
  return explainWith(selectFor(l.set, identity, database), ctx, analyze(sql));
}

export async function policyCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'test') return testCommand(rest);
  if (sub === 'explain') return explainCommand(rest);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? process.stderr : process.stdout).write(POLICY_HELP);
    return sub === undefined ? 2 : 0;
  }
  process.stderr.write(`airlock policy: unknown command ${JSON.stringify(sub)}\n\n${POLICY_HELP}`);
  return 2;
}

async function explainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      identity: { type: 'string' },
      group: { type: 'string', multiple: true },
      database: { type: 'string' },
      'search-path': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    process.stdout.write(EXPLAIN_HELP);
    return 0;
  }
  if (values.identity === undefined || positionals.length < 2) {
    process.stderr.write(
      `airlock policy explain: give policy FILE(s), --identity SUBJECT and the SQL (last argument)\n\n${EXPLAIN_HELP}`,
    );
    return 2;
  }
  const sql = positionals[positionals.length - 1] as string;
  const l = load(positionals.slice(0, -1), 'explain');
  if (l === null) return 2;
  const db = pickDatabase(l, values.database ?? null);
  if ('error' in db) {
    process.stderr.write(`airlock policy explain: ${db.error}\n`);
    return 2;
  }
  const searchPath = values['search-path']
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '') ?? ['public'];
  await loadParser();
  const x = decideOffline(l, values.identity, values.group ?? [], db.name, searchPath, sql);
  process.stdout.write(values.json === true ? `${JSON.stringify(x, null, 2)}\n` : renderExplanation(x, sql));
  return 0;
}

export function renderExplanation(x: Explanation, sql: string): string {
  const out: string[] = [];
  const extra = x.identity.groups.filter((g) => !g.startsWith('system:'));
  out.push(`identity:  ${x.identity.user}${extra.length > 0 ? ` (groups: ${extra.join(', ')})` : ''}`);
  out.push(`database:  ${x.database}`);
  out.push(
    `policies:  ${x.policies.length === 0 ? '(none applies: every statement is denied)' : x.policies.join(', ')}`,
  );
  out.push(`statement: ${sql}`);
  if (x.error !== null) out.push(`  not understood: ${x.error}`);
  x.statements.forEach((s, i) => {
    out.push('');
    out.push(
      `${i + 1}. ${s.command || 'statement'}: ${s.decision.verdict}${s.decision.policy === null ? '' : ` by ${s.decision.policy}`}${s.decision.rule === null ? '' : ` rule "${s.decision.rule}"`}`,
    );
    if (s.decision.verdict === 'deny') out.push(`   reason: ${s.decision.reason}`);
    if (s.pairs.length === 0) out.push('   pairs: none (needs no rule)');
    for (const p of s.pairs) {
      for (const c of p.candidates) {
        const via = c.object === p.written ? c.object : `${p.written} → ${c.object}`;
        out.push(`   ${p.operation} ${p.kind === 'function' ? 'function ' : ''}${via}`);
        out.push(
          `     matched: ${c.matches.length === 0 ? '(no rule)' : c.matches.map((m) => `${m.effect} ${m.policy} "${m.rule}"${m.mode === 'enforce' ? '' : ` [${m.mode}]`}`).join(', ')}`,
        );
        out.push(
          `     outcome: ${c.outcome}${c.by === null ? '' : ` by ${c.by.policy} "${c.by.rule}"`}${c.reason === null ? '' : ` (${c.reason})`}`,
        );
      }
    }
    if (s.outputs.length > 0) {
      out.push('   masking:');
      for (const o of s.outputs) {
        const cols =
          o.columns.length === 0 ? '' : ` [${o.columns.map((c) => `${c.column}: ${c.strategy}`).join(', ')}]`;
        out.push(
          `     output ${o.position}: ${o.source} → ${o.strategy ?? (o.columns.length > 0 ? 'per column' : 'unmasked')}${cols}`,
        );
      }
    }
    if (s.refuse !== null) out.push(`   refused: ${s.refuse}`);
  });
  out.push('');
  const v = x.verdict;
  out.push(
    `verdict: ${v.decision}${v.policy === null ? '' : ` by ${v.policy}`}${v.rule === null ? '' : ` rule "${v.rule}"`}${v.reason === null ? '' : ` (${v.reason})`}`,
  );
  const masked = Object.entries(x.masked);
  out.push(`masked:  ${masked.length === 0 ? 'nothing' : masked.map(([c, s]) => `${c}: ${s}`).join(', ')}`);
  return `${out.join('\n')}\n`;
}

interface CaseResult {
  readonly c: PolicyCase;
  readonly problems: readonly string[];
  readonly x: Explanation | null;
}

async function testCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      cases: { type: 'string', multiple: true },
      format: { type: 'string' },
      output: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    process.stdout.write(TEST_HELP);
    return 0;
  }
  const format = values.format ?? 'tap';
  if (format !== 'tap' && format !== 'junit') {
    process.stderr.write(`airlock policy test: --format must be tap or junit, got ${JSON.stringify(format)}\n`);
    return 2;
  }
  if (positionals.length === 0 || values.cases === undefined) {
    process.stderr.write(`airlock policy test: give policy FILE(s) and --cases CASES.yaml\n\n${TEST_HELP}`);
    return 2;
  }
  const l = load(positionals, 'test');
  if (l === null) return 2;
  const cases: PolicyCase[] = [];
  let bad = false;
  for (const file of values.cases) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      process.stderr.write(`airlock policy test: ${(e as Error).message}\n`);
      bad = true;
      continue;
    }
    const r = parseCases(text, file);
    if (!r.ok) {
      for (const e of r.errors) process.stderr.write(`${e}\n`);
      bad = true;
      continue;
    }
    cases.push(...r.cases);
  }
  if (bad) return 2;
  await loadParser();
  const results: CaseResult[] = cases.map((c) => {
    const db = pickDatabase(l, c.database);
    if ('error' in db) return { c, problems: [db.error], x: null };
    const x = decideOffline(l, c.identity, c.groups, db.name, c.searchPath, c.sql);
    return { c, problems: mismatches(c.expect, x), x };
  });
  const failed = results.filter((r) => r.problems.length > 0).length;
  const report = format === 'tap' ? tap(results) : junit(results, positionals.join(' '));
  if (values.output !== undefined) writeFileSync(values.output, report);
  else process.stdout.write(report);
  process.stderr.write(
    `airlock policy test: ${results.length} cases, ${results.length - failed} passed, ${failed} failed\n`,
  );
  return failed > 0 ? 1 : 0;
}

function tap(results: readonly CaseResult[]): string {
  const out = ['TAP version 13', `1..${results.length}`];
  results.forEach((r, i) => {
    const desc = r.c.name.replace(/#/g, '\\#');
    if (r.problems.length === 0) {
      out.push(`ok ${i + 1} - ${desc}`);
      return;
    }
    out.push(`not ok ${i + 1} - ${desc}`);
    out.push('  ---');
    out.push(`  at: ${JSON.stringify(r.c.at)}`);
    out.push(`  identity: ${JSON.stringify(r.c.identity)}`);
    out.push(`  sql: ${JSON.stringify(r.c.sql)}`);
    out.push('  problems:');
    for (const p of r.problems) out.push(`    - ${JSON.stringify(p)}`);
    out.push('  ...');
  });
  const failed = results.filter((r) => r.problems.length > 0).length;
  out.push(`# tests ${results.length}`, `# pass ${results.length - failed}`, `# fail ${failed}`);
  return `${out.join('\n')}\n`;
}

const xml = (s: string): string =>
  s
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string)
    // Control characters other than tab/newline are not allowed in XML 1.0.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

function junit(results: readonly CaseResult[], suite: string): string {
  const failed = results.filter((r) => r.problems.length > 0).length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="airlock policy test" tests="${results.length}" failures="${failed}">`,
    `  <testsuite name="${xml(suite)}" tests="${results.length}" failures="${failed}" errors="0" skipped="0">`,
  ];
  for (const r of results) {
    const file = r.c.at.replace(/:\d+:\d+$/, '');
    out.push(`    <testcase classname="${xml(file)}" name="${xml(r.c.name)}" file="${xml(file)}">`);
    if (r.problems.length > 0) {
      out.push(
        `      <failure message="${xml(r.problems[0] as string)}" type="PolicyMismatch">${xml(`${r.c.at}\nidentity: ${r.c.identity}\nsql: ${r.c.sql}\n${r.problems.join('\n')}`)}</failure>`,
      );
    }
    out.push('    </testcase>');
  }
  out.push('  </testsuite>', '</testsuites>');
  return `${out.join('\n')}\n`;
}
