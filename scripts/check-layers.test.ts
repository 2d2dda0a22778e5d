import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { checkLayers, layoutTable, type Report } from './check-layers.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A fixture repository: path → source. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'airlock-layers-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const CLEAN = {
  'policy/types.ts': 'export interface Rule { readonly name: string }\n',
  'policy/decide.ts':
    "import type { Rule } from './types.ts';\nimport { parse } from 'yaml';\nexport const f = (r: Rule, nowMs: number) => [r, nowMs, parse];\n",
  'policy/analyze/walk.ts':
    "import { parseSync } from 'libpg-query';\nimport type { Rule } from '../types.ts';\nexport const w = (r: Rule) => [r, parseSync];\n",
  'proxy/wire/read.ts':
    "import { isUtf8 } from 'node:buffer';\nexport interface FieldInfo { readonly name: string }\nexport const u = isUtf8;\n",
  'proxy/mask/datarow.ts': "import type { FieldInfo } from '../wire/read.ts';\nexport const m = (f: FieldInfo) => f;\n",
  'proxy/server.ts':
    "import { f } from '../policy/decide.ts';\nimport { m } from './mask/datarow.ts';\nimport { sink } from '../audit/sink.ts';\nexport const s = [f, m, sink];\n",
  'audit/sink.ts':
    "import { trace } from '@opentelemetry/api';\nimport { writeFileSync } from 'node:fs';\nexport const sink = [trace, writeFileSync];\n",
  'operator/pod.ts': "export const LABEL = 'airlock.dev/sidecar';\n",
  'operator/webhook/inject.ts': "import { LABEL } from '../pod.ts';\nexport const i = LABEL;\n",
  'operator/controllers/reconcile.ts':
    "import { LABEL } from '../pod.ts';\nimport type { Rule } from '../../policy/types.ts';\nexport const r = (x: Rule) => [LABEL, x];\n",
  'operator/record.ts': "import { sink } from '../audit/sink.ts';\nexport const rec = sink;\n",
  'proxy/server.test.ts':
    "import { readFileSync } from 'node:fs';\nimport { s } from './server.ts';\nimport { h } from '../test/support/h.ts';\nexport const t = [readFileSync, s, h];\n",
  'operator/controllers/reconcile.test.ts': "import { i } from '../webhook/inject.ts';\nexport const t = i;\n",
  'test/support/h.ts':
    "import { s } from '../../proxy/server.ts';\nimport { r } from '../../operator/controllers/reconcile.ts';\nexport const h = [s, r];\n",
  // A cycle of type-only imports is not a cycle at run time: allowed (policy/types.ts ↔ derived.ts).
  'policy/derived.ts': "import type { Rule } from './types.ts';\nexport interface Derived { readonly r: Rule }\n",
  'policy/derived-user.ts': "import type { Derived } from './derived.ts';\nexport type D = Derived;\n",
};

function problems(r: Report): string[] {
  return [
    ...r.violations.map((v) => `${v.file}:${v.line} ${v.specifier}`),
    ...r.fileCycles.map((c) => `files ${c.join(' ')}`),
    ...r.folderCycles.map((c) => `folders ${c.join(' ')}`),
  ];
}

test('a tree that keeps the layering passes', () => {
  const r = checkLayers(tree(CLEAN));
  assert.equal(r.files, Object.keys(CLEAN).length);
  assert.deepEqual(problems(r), []);
});

test('every forbidden edge is listed with its file and line', () => {
  const r = checkLayers(
    tree({
      ...CLEAN,
      'policy/io.ts':
        "import type { Rule } from './types.ts';\nimport { readFileSync } from 'node:fs';\nexport const x = [readFileSync] as Rule[] | unknown;\n",
      'policy/clock.ts':
        'export const now = () => Date.now();\nexport const d = () => new Date();\nexport const ok = (ms: number) => new Date(ms);\n',
      'policy/kube.ts': "import { KubeConfig } from '@kubernetes/client-node';\nexport const k = KubeConfig;\n",
      'proxy/sidecar.ts': "import { LABEL } from '../operator/pod.ts';\nexport const x = LABEL;\n",
      'operator/record.ts':
        "import { sink } from '../audit/sink.ts';\nexport const y = () => import('../proxy/server.ts');\n",
      'operator/distribution/authorize.ts': "import { i } from '../webhook/inject.ts';\nexport const a = i;\n",
      'distribution/types.ts': "export { sink } from '../audit/sink.ts';\n",
      'audit/tail.ts': "import type { Rule } from '../policy/types.ts';\nexport type T = Rule;\n",
      'proxy/wire/messages.ts': "import type { RowMask } from '../mask/types.ts';\nexport type R = RowMask;\n",
      'proxy/mask/types.ts': 'export type RowMask = readonly string[];\n',
      'proxy/server.test.ts': "import { LABEL } from '../operator/pod.ts';\nexport const t = LABEL;\n",
      'misc/thing.ts': 'export const t = 1;\n',
    }),
  );
  assert.deepEqual(
    problems(r).sort(),
    [
      'audit/tail.ts:1 ../policy/types.ts',
      'distribution/types.ts:1 ../audit/sink.ts',
      'misc/thing.ts:1 ',
      'operator/distribution/authorize.ts:1 ../webhook/inject.ts',
      'operator/record.ts:2 ../proxy/server.ts',
      'policy/clock.ts:1 ',
      'policy/clock.ts:2 ',
      'policy/io.ts:2 node:fs',
      'policy/kube.ts:1 @kubernetes/client-node',
      'proxy/server.test.ts:1 ../operator/pod.ts', // tests cross no wall between top-level folders either
      'proxy/sidecar.ts:1 ../operator/pod.ts',
      'proxy/wire/messages.ts:1 ../mask/types.ts',
      'folders operator/ proxy/',
      'folders proxy/mask/ proxy/wire/',
    ].sort(),
  );
  const why = (file: string) => r.violations.find((v) => v.file === file)?.why;
  assert.match(
    why('proxy/sidecar.ts') ?? '',
    /^proxy\/ may import code from proxy\/, policy\/, distribution\/, audit\/, lib\/ only$/,
  );
  assert.match(why('policy/io.ts') ?? '', /Node built-ins: none/);
  assert.match(why('policy/clock.ts') ?? '', /Date\.now/);
  assert.match(why('misc/thing.ts') ?? '', /no folder of LAYERS/);
});

test('cycles: between files through value imports, between sibling folders through any import', () => {
  const r = checkLayers(
    tree({
      ...CLEAN,
      'operator/controllers/requests.ts':
        "import { problems } from './snapshot.ts';\nexport const subject = () => problems;\n",
      'operator/controllers/snapshot.ts':
        "import { subject } from './requests.ts';\nexport const problems = () => subject;\n",
      'proxy/wire/read.ts':
        "import type { RowMask } from '../mask/types.ts';\nexport interface FieldInfo { readonly m: RowMask }\n",
      'proxy/mask/types.ts':
        "import type { FieldInfo } from '../wire/read.ts';\nexport type RowMask = readonly FieldInfo[];\n",
    }),
  );
  assert.deepEqual(r.fileCycles, [['operator/controllers/requests.ts', 'operator/controllers/snapshot.ts']]);
  assert.deepEqual(r.folderCycles, [['proxy/mask/', 'proxy/wire/']]);
});

test('loading the WASM (libpg-query loadModule) is forbidden in policy/ (proxy/enforce/analyzer.ts loads it)', () => {
  const files = {
    ...CLEAN,
    'policy/analyze/analyze.ts':
      "import { loadModule, parseSync } from 'libpg-query';\nexport const a = [loadModule, parseSync];\n",
  };
  assert.deepEqual(problems(checkLayers(tree(files), undefined, [])), ['policy/analyze/analyze.ts:1 libpg-query']);
  assert.deepEqual(problems(checkLayers(tree(files))), ['policy/analyze/analyze.ts:1 libpg-query']); // no exception left
  const elsewhere = {
    ...CLEAN,
    'policy/other.ts': "import { loadModule } from 'libpg-query';\nexport const a = loadModule;\n",
  };
  assert.deepEqual(problems(checkLayers(tree(elsewhere))), ['policy/other.ts:1 libpg-query']);
});

test("DEVELOPERS.md's layout table is the one LAYERS makes", () => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'DEVELOPERS.md'), 'utf8');
  assert.ok(
    doc.includes(layoutTable()),
    'DEVELOPERS.md is stale: run sh scripts/node24.sh scripts/check-layers.ts --write',
  );
});
