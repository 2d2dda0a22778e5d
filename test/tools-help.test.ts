// Every command of the repository answers `--help` with its usage and exit 0, and a wrong option with the
// reason and exit 2, before doing any work (test/support/tool-args.ts). Before, five bench tools answered
// `--help` with a stack trace, and `scripts/gen-pg-catalog.ts --help` rewrote policy/pg-catalog.ts.
//
// A tool is a TypeScript file that names its own path (its usage line: `sh scripts/node24.sh bench/rounds.ts …`),
// so a new tool is checked without being listed here.
import { spawn } from 'node:child_process';
import { globSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

const root = resolve(import.meta.dirname, '..');

const tools = globSync('**/*.ts', {
  cwd: root,
  exclude: (p: string) => /(^|\/)(node_modules|\.git|\.tmp)$/.test(p),
})
  .filter(
    (f) => !f.endsWith('.test.ts') && !f.startsWith('test/') && readFileSync(resolve(root, f), 'utf8').includes(f),
  )
  .sort();

function run(file: string, arg: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [file, arg], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.once('error', fail);
    child.once('close', (code) => done({ code, out, err }));
  });
}

describe('the tools of the repository', () => {
  it('are found', () => {
    // The tools this test was written against: finding fewer means the rule above stopped matching.
    for (const t of [
      'bench/run.ts',
      'bench/rounds.ts',
      'scripts/gen-pg-catalog.ts',
      'scripts/run-tests.ts',
      'bin/airlock.ts',
    ])
      assert.ok(tools.includes(t), `${t} not found among ${tools.join(', ')}`);
  });

  for (const file of tools) {
    it(`${file}: --help prints the usage and exits 0; an unknown option exits 2`, async () => {
      const [help, wrong] = await Promise.all([run(file, '--help'), run(file, '--no-such-option')]);
      assert.equal(help.code, 0, `--help: exit ${help.code}\n${help.err}`);
      assert.match(help.out, /^usage: /i);
      assert.equal(wrong.code, 2, `--no-such-option: exit ${wrong.code}\n${wrong.err}`);
      assert.match(wrong.err, /no-such-option/);
      assert.doesNotMatch(wrong.err, /\n\s+at /, 'a stack trace instead of a message');
    });
  }

  it('scripts/test.sh (npm test) answers --help without setting anything up', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((done, fail) => {
      const child = spawn('sh', ['scripts/test.sh', '--help'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.once('error', fail);
      child.once('close', (code) => done({ code, out }));
    });
    assert.equal(r.code, 0);
    assert.match(r.out, /^usage: npm test/);
    assert.doesNotMatch(r.out, /^== /m, 'a set-up phase ran');
  });
});
