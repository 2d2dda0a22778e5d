// `airlock audit tail` (audit/README.md "Reading the trail locally"), run as a child process exactly as
// users run it, against a spool the audit sink wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditSink } from '../../audit/index.ts';
import { session, statement } from '../../audit/testdata/records.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SID = '0123456789abcdef';

function airlock(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const child = spawn('sh', ['scripts/node24.sh', 'bin/airlock.ts', ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out, err })));
}

async function spool(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-tail-'));
  const sink = await createAuditSink({
    endpoint: null,
    protocol: 'grpc',
    spoolDir: dir,
    onFailure: 'block',
    log: () => {},
  });
  sink.sessionStarted(session(SID));
  for (let i = 0; i < 4; i++) sink.statement(statement(SID, i, { queryText: `SELECT ${i}` }));
  sink.statement(
    statement(SID, 4, {
      decision: 'deny',
      operation: 'DROP',
      policy: 'trainer',
      rule: 'no-destructive',
      reason: 'permission denied for DROP on orders',
      statusCode: '42501',
      rows: null,
      queryText: 'DROP TABLE orders',
    }),
  );
  sink.sessionEnded(SID, 1_700_000_010_000);
  await sink.close();
  return dir;
}

test('audit tail --spool prints the newest statements, oldest first; -n bounds them', async () => {
  const dir = await spool();
  const r = await airlock(['audit', 'tail', '--spool', dir, '-n', '2']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, 3, r.out);
  assert.match(lines[0]!, /^TIME\s+SUBJECT\s+DECISION\s+OPERATION/);
  assert.match(
    lines[1]!,
    /system:serviceaccount:ml:trainer\s+allow\s+SELECT\s+public\.orders\s+1\s+trainer\/read-app-tables\s+SELECT 3$/,
  );
  assert.match(lines[2]!, /\sdeny\s+DROP\s+public\.orders\s.*trainer\/no-destructive\s+DROP TABLE orders$/);

  const all = await airlock(['audit', 'tail', '--spool', dir]);
  assert.equal(all.code, 0, all.err);
  assert.equal(all.out.trimEnd().split('\n').length, 6, 'header + 5 statements (default -n 20), no session span');
});

test('audit tail: usage errors exit 2, an unreadable source exits 1, --help exits 0', async () => {
  const help = await airlock(['audit', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: airlock audit tail \[--spool DIR \| --file FILE\] \[-n N\]/);
  const both = await airlock(['audit', 'tail']);
  assert.equal(both.code, 2);
  assert.match(both.err, /exactly one of --spool DIR or --file FILE/);
  const badN = await airlock(['audit', 'tail', '--spool', '.', '-n', 'x']);
  assert.equal(badN.code, 2);
  assert.match(badN.err, /-n must be a positive integer/);
  const missing = await airlock(['audit', 'tail', '--spool', join(tmpdir(), 'airlock-no-such-spool-dir')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /spool directory .* does not exist/);
  const unknown = await airlock(['audit', 'head']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown subcommand "head"/);
});
