// `airlock policy test`, `airlock policy explain`, `airlock validate` (line and column), --help on every
// command, and the same CLI as the kubectl plugin `kubectl airlock`, run as separate processes the way CI
// and a person run them. The examples' own cases pass; a bad policy change fails them, in TAP and JUnit.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { pluginPath, run } from '../support/plugin.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ex = (...p: string[]) => join(repo, 'examples', ...p);
const airlock = (...args: string[]) => run(process.execPath, [join(repo, 'bin', 'airlock.ts'), ...args]);
const tmp = mkdtempSync(join(tmpdir(), 'airlock-policy-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const EXAMPLES: [string, string[], string][] = [
  ['quick start', [ex('quickstart')], ex('quickstart', 'tests', 'cases.yaml')],
  ['ML training', [ex('ml-training', 'policy.yaml')], ex('ml-training', 'tests', 'cases.yaml')],
  [
    'break-glass',
    [ex('quickstart', 'binding.yaml'), ex('break-glass', 'policy.yaml')],
    ex('break-glass', 'tests', 'cases.yaml'),
  ],
];
for (const [name, files, cases] of EXAMPLES) {
  test(`policy test: the ${name} example's cases all pass (TAP)`, async () => {
    const r = await airlock('policy', 'test', ...files, '--cases', cases);
    assert.equal(r.code, 0, r.out + r.err);
    const n = Number(/^1\.\.(\d+)$/m.exec(r.out)?.[1]);
    assert.ok(n >= 6, r.out);
    assert.equal(r.out.match(/^ok \d+ - /gm)?.length, n);
    assert.match(r.err, new RegExp(`^airlock policy test: ${n} cases, ${n} passed, 0 failed$`, 'm'));
  });
}

test('policy test: a bad change to a policy fails its cases, naming what changed (TAP, exit 1)', async () => {
  const dir = join(tmp, 'bad-change');
  cpSync(ex('quickstart'), dir, { recursive: true });
  const file = join(dir, 'policy-readonly.yaml');
  // The change a reviewer might miss: e-mail masking dropped, and writes slipped into the read rule.
  writeFileSync(
    file,
    readFileSync(file, 'utf8')
      .replace(/^ {4}- \{ columns: \["public\.customers\.email"\].*\n/m, '')
      .replace('operations: [SELECT, COPY_TO]', 'operations: [SELECT, COPY_TO, UPDATE]'),
  );
  const r = await run(process.execPath, [
    join(repo, 'bin', 'airlock.ts'),
    'policy',
    'test',
    dir,
    '--cases',
    join(dir, 'tests', 'cases.yaml'),
  ]);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /^not ok 1 - the trainer reads customers, e-mail partially masked and SSN redacted$/m);
  assert.match(r.out, /"masked: expected public\.customers\.email masked with partial, but it is not masked"/);
  assert.match(r.out, /^not ok 6 - writes are not in the read-only policy$/m);
  assert.match(r.out, /"decision: expected deny, got allow by ml\/analysts-read rule \\"read-app-tables\\""/);
  assert.match(r.out, /at: ".*cases\.yaml:\d+:\d+"/);
  assert.match(r.err, /cases, \d+ passed, [1-9]\d* failed$/m);
});

test('policy test --format junit: one testcase per case, failures with their reasons', async () => {
  const dir = join(tmp, 'junit');
  cpSync(ex('quickstart'), dir, { recursive: true });
  const file = join(dir, 'policy-guardrails.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('operations: [DROP, TRUNCATE, GRANT]', 'operations: [TRUNCATE, GRANT]'),
  );
  const out = join(tmp, 'report.xml');
  const r = await airlock(
    'policy',
    'test',
    dir,
    '--cases',
    join(dir, 'tests', 'cases.yaml'),
    '--format',
    'junit',
    '--output',
    out,
  );
  assert.equal(r.code, 1);
  assert.equal(r.out, '', 'the report went to --output');
  const xml = readFileSync(out, 'utf8');
  assert.match(
    xml,
    /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="airlock policy test" tests="9" failures="1">/,
  );
  assert.equal(xml.match(/<testcase /g)?.length, 9);
  // DROP is still denied (no rule allows it) but no longer by the guardrail policy's rule: the case says so.
  assert.match(
    xml,
    /<testcase classname="[^"]*cases\.yaml" name="DROP is blocked by the guardrail policy" file="[^"]*cases\.yaml">\n\s+<failure message="policy: expected ml\/guardrails, got \(none\)" type="PolicyMismatch">[^<]*cases\.yaml:\d+:\d+\nidentity: system:serviceaccount:ml:trainer\nsql: DROP TABLE orders\npolicy: expected ml\/guardrails, got \(none\)\nrule: expected &quot;no-destructive&quot;, got \(none\)<\/failure>/,
  );
  // Every opened element is closed: a CI parser reads it.
  assert.equal(xml.match(/<testcase /g)?.length, xml.match(/<\/testcase>/g)?.length);
  assert.equal(xml.match(/<failure /g)?.length, xml.match(/<\/failure>/g)?.length);
});

test('policy test: a malformed cases file is exit 2 with every problem at its line and column', async () => {
  const cases = join(tmp, 'bad-cases.yaml');
  writeFileSync(
    cases,
    'cases:\n  - name: a\n    sql: SELECT 1\n    expect: { decision: allowed }\n  - name: b\n    identity: x\n    expect: { decision: deny, masked: { public.t.c: scramble } }\n',
  );
  const r = await airlock('policy', 'test', ex('quickstart'), '--cases', cases);
  assert.equal(r.code, 2);
  assert.match(r.err, /bad-cases\.yaml:2:5: cases\[0\]\.identity: required/);
  assert.match(
    r.err,
    /bad-cases\.yaml:4:25: cases\[0\]\.expect\.decision: expected one of allow, warn, approve, deny, got "allowed"/,
  );
  assert.match(r.err, /bad-cases\.yaml:\d+:\d+: cases\[1\]\.sql: required/);
  assert.match(
    r.err,
    /cases\[1\]\.expect\.masked: public\.t\.c: expected one of redact, partial, hash, null, got "scramble"/,
  );
});

test('policy explain: pairs, the rules that matched each, the masking plan and the verdict', async () => {
  const r = await airlock(
    'policy',
    'explain',
    ex('quickstart'),
    '--identity',
    'system:serviceaccount:ml:trainer',
    'SELECT c.name, c.email, upper(c.ssn) FROM customers c JOIN orders o ON o.customer_id = c.id',
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^policies: {2}ml\/guardrails, ml\/analysts-read$/m);
  assert.match(
    r.out,
    /^ {3}SELECT customers → public\.customers\n {5}matched: allow ml\/analysts-read "read-app-tables"\n {5}outcome: allow by ml\/analysts-read "read-app-tables"$/m,
  );
  assert.match(r.out, /^ {3}SELECT orders → public\.orders$/m);
  assert.match(r.out, /^ {5}output 1: customers\.name → unmasked$/m);
  assert.match(r.out, /^ {5}output 2: customers\.email → partial$/m);
  assert.match(r.out, /^ {5}output 3: computed from customers\.ssn → redact$/m);
  assert.match(r.out, /^verdict: allow by ml\/analysts-read rule "read-app-tables"$/m);
  assert.match(r.out, /^masked: {2}public\.customers\.email: partial, public\.customers\.ssn: redact$/m);

  const d = await airlock(
    'policy',
    'explain',
    ex('quickstart'),
    '--identity',
    'system:serviceaccount:ml:trainer',
    '--json',
    'TRUNCATE orders',
  );
  assert.equal(d.code, 0, d.err);
  const x = JSON.parse(d.out);
  assert.deepEqual(x.verdict, {
    decision: 'deny',
    policy: 'ml/guardrails',
    rule: 'no-destructive',
    reason: 'TRUNCATE on orders (as public.orders via search_path) is denied by rule "no-destructive"',
  });
  assert.deepEqual(x.statements[0].pairs[0].candidates[0].matches, [
    { policy: 'ml/guardrails', rule: 'no-destructive', effect: 'deny', mode: 'enforce' },
  ]);

  const none = await airlock('policy', 'explain', ex('quickstart'), '--identity', 'mallory@example.com', 'SELEC 1');
  assert.equal(none.code, 0);
  assert.match(none.out, /not understood: syntax error at character 1$/m);
  assert.match(none.out, /^verdict: deny/m);
});

test('policy explain and test need their arguments: exit 2 with usage', async () => {
  for (const args of [
    ['policy'],
    ['policy', 'explain', ex('quickstart'), 'SELECT 1'],
    ['policy', 'test', ex('quickstart')],
    ['policy', 'frobnicate'],
  ]) {
    const r = await airlock(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /usage: airlock policy/);
  }
});

test('validate: each problem at FILE:LINE:COLUMN of the YAML', async () => {
  const bad = join(repo, 'test', 'fixtures', 'bad-policy.yaml');
  const r = await airlock('validate', bad);
  assert.equal(r.code, 1);
  const lines = r.out.trim().split('\n');
  assert.ok(lines.length >= 3, r.out);
  for (const l of lines) assert.match(l, /^\/.*bad-policy\.yaml:\d+:\d+: /, l);
  const text = readFileSync(bad, 'utf8').split('\n');
  // The reported position is where the offending value is written.
  const delte = lines.find((l) => l.includes('"DELTE"'))!;
  const [, line, col] = /:(\d+):(\d+): /.exec(delte)!;
  assert.equal(text[Number(line) - 1]!.slice(Number(col) - 1, Number(col) - 1 + 'DELTE'.length), 'DELTE');
});

test('validate --manifests: a GitOps directory (other kinds skipped, no Secret needed); a bad one fails', async () => {
  const ok = await airlock('validate', '--manifests', ex('ml-training'));
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /ok \(1 DatabaseBinding, 1 AccessPolicy, 0 AccessRequest; \d+ other document\(s\) skipped\)/);
  const local = await airlock('validate', ex('ml-training', 'policy.yaml'));
  assert.equal(local.code, 1, 'as a local-mode file it lacks its Secret');
  assert.match(
    local.out,
    /policy\.yaml:11:27: DatabaseBinding ml\/features: spec\.credentialsSecretRef\.name: no Secret "features-airlock"/,
  );
  const dir = join(tmp, 'manifests');
  cpSync(ex('quickstart'), dir, { recursive: true });
  writeFileSync(
    join(dir, 'policy-readonly.yaml'),
    readFileSync(join(dir, 'policy-readonly.yaml'), 'utf8').replace('databases: [orders]', 'databases: [ordres]'),
  );
  const r = await airlock('validate', '--manifests', dir);
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /policy-readonly\.yaml:12:15: AccessPolicy ml\/analysts-read: spec\.databases\[0\]: no DatabaseBinding "ordres" in namespace ml in the files given/,
  );
});

const HELP: string[][] = [
  ['--help'],
  ['proxy', '--help'],
  ['proxy', '--operator', 'x:1', '--help'],
  ['operator', '--help'],
  ['demo', '--help'],
  ['validate', '--help'],
  ['policy', '--help'],
  ['policy', 'test', '--help'],
  ['policy', 'explain', '--help'],
  ['audit', '--help'],
  ['request', '--help'],
  ...['create', 'list', 'get', 'approve', 'deny', 'revoke'].map((c) => ['request', c, '--help']),
];
test('--help on every command and subcommand: exit 0, a usage line on stdout', async () => {
  for (const args of HELP) {
    const r = await airlock(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.match(r.out, /^usage: airlock /, args.join(' '));
  }
});

test('kubectl airlock: kubectl finds the plugin on the PATH; validate, explain, test and --help work through it', async () => {
  const env = pluginPath();
  const k = (...args: string[]) => run('kubectl', ['airlock', ...args], env);
  const v = await k('validate', '--manifests', ex('quickstart'));
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /4 file\(s\): ok/);
  const e = await k('explain', ex('quickstart'), '--identity', 'system:serviceaccount:ml:trainer', 'DROP TABLE orders');
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /^verdict: deny by ml\/guardrails rule "no-destructive"/m);
  const t = await k('test', ex('quickstart'), '--cases', ex('quickstart', 'tests', 'cases.yaml'));
  assert.equal(t.code, 0, t.err);
  const h = await k('--help');
  assert.equal(h.code, 0);
  assert.match(h.out, /^usage: kubectl airlock <command>/);
  assert.match(h.out, /approve {4}= request approve NAME/);
  const a = await k('approve', '--help');
  assert.match(a.out, /^usage: airlock request approve NAME/);
  const plugins = await run('kubectl', ['plugin', 'list', '--name-only'], env);
  assert.match(plugins.out, /^kubectl-airlock$/m);
});

/** The airlock commands of a CI snippet, in order (GitHub `run:` steps, GitLab `script:` lines). */
function ciCommands(file: string): string[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as Record<string, any>;
  const lines: string[] = [];
  if (doc.jobs !== undefined)
    for (const job of Object.values(doc.jobs) as any[])
      for (const s of job.steps) {
        if (typeof s.run === 'string') lines.push(s.run);
      }
  else for (const job of Object.values(doc) as any[]) lines.push(...(job.script as string[]));
  return lines.filter((l) => l.startsWith('node /app/bin/airlock.js '));
}

for (const snippet of ['github-actions.yaml', 'gitlab-ci.yaml']) {
  test(`the ${snippet} snippet's commands pass on a policy repository, and fail on a bad change`, async () => {
    const cmds = ciCommands(ex('ci', snippet));
    assert.equal(cmds.length, 2);
    // A policy repository laid out as the snippet expects: policies/ml = the quick start.
    const work = join(tmp, `ci-${snippet}`);
    cpSync(ex('quickstart'), join(work, 'policies', 'ml'), { recursive: true });
    // The image's `node /app/bin/airlock.js` is this repository's CLI here; the arguments are the snippet's.
    const runAll = async () => {
      const out: { code: number; out: string; err: string }[] = [];
      for (const c of cmds) {
        const args = c.slice('node /app/bin/airlock.js '.length).split(' ');
        out.push(
          await run(process.execPath, [join(repo, 'bin', 'airlock.ts'), ...args], { ...process.env }, 60_000, work),
        );
      }
      return out;
    };
    const [validate, tests] = await runAll();
    assert.equal(validate!.code, 0, validate!.out);
    assert.equal(tests!.code, 0, tests!.out + tests!.err);
    assert.match(
      readFileSync(join(work, 'airlock-policy-tests.xml'), 'utf8'),
      /<testsuites name="airlock policy test" tests="9" failures="0">/,
    );
    // The bad change: a reviewer misses that the SSN mask went.
    const file = join(work, 'policies', 'ml', 'policy-readonly.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {4}- \{ columns: \["public\.customers\.ssn"\].*\n/m, ''));
    const [v2, t2] = await runAll();
    assert.equal(v2!.code, 0, 'still valid YAML and a valid policy: only the tests know it is wrong');
    assert.equal(t2!.code, 1);
    assert.match(
      readFileSync(join(work, 'airlock-policy-tests.xml'), 'utf8'),
      /failure message="masked: expected public\.customers\.ssn masked with redact, but it is not masked"/,
    );
  });
}
