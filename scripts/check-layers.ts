// The layering, checked: which folder may import what. LAYERS below is the source of truth; the layout
// table in DEVELOPERS.md is generated from it (between the `layers:` markers) and checked here too.
//   sh scripts/node24.sh scripts/check-layers.ts           exit 1 listing every forbidden import and cycle
//   sh scripts/node24.sh scripts/check-layers.ts --write   rewrite DEVELOPERS.md's table from LAYERS
//
// Imports are read with the TypeScript parser (a devDependency): `import … from`, `export … from`, bare
// `import '…'` and `import('…')` with a string literal, type-only ones included (a type is part of the
// contract it comes from). A file belongs to the longest folder of LAYERS that holds it; a file under no
// folder of LAYERS fails, so a new folder needs a row. Tests (`*.test.ts`, `testdata/`, and the measurement
// and test helpers `bench.ts` and `testing-*.ts` that nothing but tests and benchmarks imports) may also import
// node built-ins, any package, `test/` and anything in their own top-level folder — but never across the
// walls between top-level folders (proxy/ and operator/ still never import each other).
// Cycles, among non-test files: between files through value imports (controllers/requests.ts ↔
// snapshot.ts was one; a type-only cycle such as policy/types.ts ↔ derived.ts is left alone), and between
// folders of LAYERS through any import, a folder and the folders inside it excepted (proxy/wire/ ↔
// proxy/mask/ was one: the RowDescription field type sat in mask/).
import { globSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { toolArgs } from '../test/support/tool-args.ts';

export interface Layer {
  /** A folder (`proxy/wire/`); its files may always import each other. */
  readonly folder: string;
  readonly what: string;
  /**
   * Other code it may import: `x/` is the folder and everything under it, `x/*` the files directly in x/
   * (not its subfolders), `*` anything.
   */
  readonly code: readonly string[];
  /** npm packages it may import by name (`@opentelemetry/*` matches the scope), or `*`. */
  readonly packages: readonly string[];
  /** Node.js built-ins: all, none, or those named (`node:crypto`). */
  readonly builtins: 'all' | 'none' | readonly string[];
  /** Named imports it may not take from a package: `{ 'libpg-query': ['loadModule'] }`. */
  readonly forbiddenNames?: Readonly<Record<string, readonly string[]>>;
  /**
   * No clock, randomness, timers or process state through globals either (`Date.now()`, `new Date()`,
   * `Math.random()`, `performance`, `process`, `crypto`, `fetch`, `setTimeout`, …): time is an argument.
   */
  readonly pure?: boolean;
}

export const LAYERS: readonly Layer[] = [
  {
    folder: 'policy/',
    what: 'pure core: resource types and schemas, validation, config parsing, compiler, statement analysis (`policy/analyze/`), evaluator, decision cache',
    code: [],
    packages: ['@sinclair/typebox', 'yaml', 'libpg-query'],
    builtins: 'none',
    pure: true,
    // loadModule reads and instantiates libpg-query's WASM: I/O, and module state in the pure core.
    forbiddenNames: { 'libpg-query': ['loadModule'] },
  },
  {
    folder: 'lib/',
    what: 'small helpers any folder may use, importing nothing: retry backoff (`backoff.ts`)',
    code: [],
    packages: [],
    builtins: 'none',
  },
  {
    folder: 'distribution/',
    what: "the PolicyDistribution contract both sides speak: `proto/airlock/v1/distribution.proto`, its messages and gRPC service built by hand (`proto.ts`, the proto3 codec `codec.ts`), message ↔ `DistributedPolicy` (`types.ts`), the sidecar's watch client (`client.ts`)",
    code: ['policy/', 'lib/'],
    packages: ['@grpc/grpc-js'],
    builtins: 'all',
  },
  {
    folder: 'audit/',
    what: "audit spans, spooled to disk and exported over OTLP: the proxy's statements and the operator's actions",
    code: ['lib/'],
    packages: ['@opentelemetry/*', '@grpc/grpc-js'],
    builtins: 'all',
  },
  {
    folder: 'proxy/',
    what: 'PostgreSQL wire proxy: `server.ts`, `local.ts` (config file), `sidecar.ts` (policy from the operator), `run.ts` (what both share), `catalog.ts`, metrics',
    code: ['proxy/', 'policy/', 'distribution/', 'audit/', 'lib/'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'proxy/wire/',
    what: 'the PostgreSQL v3 protocol codec, upstream login and TLS',
    code: [],
    packages: [],
    builtins: 'all',
  },
  {
    folder: 'proxy/mask/',
    what: 'masking values in protocol messages',
    code: ['proxy/wire/', 'policy/'],
    packages: [],
    builtins: ['node:buffer', 'node:crypto'],
    pure: true,
  },
  {
    folder: 'proxy/enforce/',
    what: "the statement gate: analysis with its limits, decisions, denials; loading the parser's WebAssembly (`analyzer.ts`)",
    code: ['proxy/wire/', 'policy/'],
    packages: ['libpg-query'],
    builtins: 'all',
  },
  {
    folder: 'proxy/session/',
    what: 'one state machine per client connection: `session.ts` (the connection core) and its collaborators (`login`, `frontend`, `backend`, `guard`, `approval`, `context`, `statements`, …; docs/architecture.md)',
    code: ['proxy/', 'policy/', 'audit/', 'lib/'],
    packages: [],
    builtins: 'all',
  },
  {
    folder: 'operator/',
    what: 'the operator: `operator.ts` wires it; `pod.ts` the pod contract the parts share; leader election, Events and spans, metrics',
    code: ['operator/', 'policy/', 'distribution/', 'audit/', 'lib/'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'operator/webhook/',
    what: 'admission webhook: sidecar injection, AccessRequest stamping, certificates',
    code: ['operator/*', 'policy/', 'lib/'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'operator/controllers/',
    what: 'informers, reconcilers, snapshots',
    code: ['operator/*', 'operator/distribution/', 'policy/', 'distribution/', 'lib/'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'operator/distribution/',
    what: 'the PolicyDistribution gRPC server and who may watch what',
    code: ['operator/*', 'policy/', 'distribution/', 'lib/'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'bin/',
    what: 'the `airlock` CLI',
    code: ['policy/', 'proxy/', 'audit/', 'operator/', 'distribution/', 'lib/'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'bench/',
    what: 'benchmarks (ratios against direct PostgreSQL and PgBouncer in one run)',
    code: ['*'],
    packages: ['*'],
    builtins: 'all',
  },
  {
    folder: 'test/',
    what: 'end-to-end tests and shared fixtures (and `support/tool-args.ts`, the command line of every tool); unit tests sit beside their code as `x.test.ts`',
    code: ['*'],
    packages: ['*'],
    builtins: 'all',
  },
  { folder: 'scripts/', what: 'build, generation and test scripts', code: ['*'], packages: ['*'], builtins: 'all' },
];

/** Known violations, each with the issue that removes it. Keep this list short and shrinking. */
export interface Exception {
  readonly file: string;
  readonly specifier: string;
  readonly name?: string;
  readonly why: string;
}
export const EXCEPTIONS: readonly Exception[] = [];

const SOURCES = ['ts', 'mts', 'cts', 'js', 'mjs'];

export interface Import {
  readonly from: string; // repository path of the importing file
  readonly line: number;
  readonly specifier: string;
  readonly target: string | null; // repository path for a relative specifier, else null
  readonly names: readonly string[];
  readonly typeOnly: boolean;
}

function isTest(file: string): boolean {
  return (
    /\.test\.[cm]?[jt]s$/.test(file) || /(^|\/)testdata\//.test(file) || /(^|\/)(bench|testing-[\w-]+)\.ts$/.test(file)
  );
}

const IMPURE_GLOBALS = new Set([
  'performance',
  'process',
  'crypto',
  'fetch',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'queueMicrotask',
]);

export interface Scan {
  readonly imports: readonly Import[];
  readonly impure: readonly { readonly line: number; readonly what: string }[];
}

/** Every import of one file, in order, and its uses of the clock, randomness, timers and process globals. */
export function scan(root: string, file: string): Scan {
  const text = readFileSync(join(root, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const out: Import[] = [];
  const impure: { line: number; what: string }[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const add = (spec: ts.Node, names: string[], typeOnly = false) => {
    if (!ts.isStringLiteralLike(spec)) return;
    const s = spec.text;
    const target =
      s.startsWith('./') || s.startsWith('../')
        ? relative(root, resolve(root, dirname(file), s))
            .split('\\')
            .join('/')
        : null;
    out.push({
      from: file,
      line: sf.getLineAndCharacterOfPosition(spec.getStart(sf)).line + 1,
      specifier: s,
      target,
      names,
      typeOnly,
    });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      const c = n.importClause;
      const b = c?.namedBindings;
      const named = b !== undefined && ts.isNamedImports(b) ? b.elements : undefined;
      const typeOnly =
        c !== undefined
        && (c.isTypeOnly
          || (c.name === undefined && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier, named === undefined ? [] : named.map((e) => (e.propertyName ?? e.name).text), typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier !== undefined) {
      const c = n.exportClause;
      const named = c !== undefined && ts.isNamedExports(c) ? c.elements : undefined;
      const typeOnly = n.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly));
      add(n.moduleSpecifier, named === undefined ? [] : named.map((e) => (e.propertyName ?? e.name).text), typeOnly);
    } else if (
      ts.isCallExpression(n)
      && n.expression.kind === ts.SyntaxKind.ImportKeyword
      && n.arguments[0] !== undefined
    ) {
      add(n.arguments[0], []);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) {
      add(n.argument.literal, [], true);
    } else if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression)) {
      const what = `${n.expression.text}.${n.name.text}`;
      if (what === 'Date.now' || what === 'Math.random' || IMPURE_GLOBALS.has(n.expression.text))
        impure.push({ line: lineOf(n), what });
    } else if (
      ts.isNewExpression(n)
      && ts.isIdentifier(n.expression)
      && n.expression.text === 'Date'
      && (n.arguments?.length ?? 0) === 0
    ) {
      impure.push({ line: lineOf(n), what: 'new Date()' });
    } else if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && IMPURE_GLOBALS.has(n.expression.text)) {
      impure.push({ line: lineOf(n), what: `${n.expression.text}()` });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { imports: out, impure };
}

function layerOf(file: string, layers: readonly Layer[]): Layer | undefined {
  let best: Layer | undefined;
  for (const l of layers)
    if (file.startsWith(l.folder) && (best === undefined || l.folder.length > best.folder.length)) best = l;
  return best;
}

function codeAllowed(target: string, entries: readonly string[]): boolean {
  return entries.some(
    (e) => e === '*' || (e.endsWith('/*') ? posix.dirname(target) + '/' === e.slice(0, -1) : target.startsWith(e)),
  );
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

function packageAllowed(name: string, allowed: readonly string[]): boolean {
  return allowed.some((a) => a === '*' || a === name || (a.endsWith('/*') && name.startsWith(a.slice(0, -1))));
}

const BUILTINS = new Set(builtinModules);
function builtinName(spec: string): string | null {
  if (spec.startsWith('node:')) return `node:${spec.slice(5).split('/')[0]}`;
  const base = spec.split('/')[0] as string;
  return BUILTINS.has(base) ? `node:${base}` : null;
}

const list = (xs: readonly string[]) => (xs.length === 0 ? 'none' : xs.join(', '));

/** Why this import is forbidden, or null when it is allowed. */
function judge(imp: Import, layers: readonly Layer[], exceptions: readonly Exception[]): string | null {
  const l = layerOf(imp.from, layers);
  if (l === undefined) return 'in no folder of LAYERS';
  const test = isTest(imp.from);
  const top = l.folder.split('/')[0] + '/';
  if (imp.target !== null) {
    if (imp.target.startsWith(l.folder) || codeAllowed(imp.target, l.code)) return null;
    if (test && (imp.target.startsWith('test/') || imp.target.startsWith(top))) return null;
    return `${l.folder} may import code from ${l.code.length === 0 ? 'nothing outside it' : `${list(l.code)} only`}`;
  }
  const builtin = builtinName(imp.specifier);
  if (builtin !== null) {
    if (test || l.builtins === 'all' || (l.builtins !== 'none' && l.builtins.includes(builtin))) return null;
    return `${l.folder} may import Node built-ins: ${l.builtins === 'none' ? 'none' : list(l.builtins)}`;
  }
  const name = packageName(imp.specifier);
  if (!test && !packageAllowed(name, l.packages)) return `${l.folder} may import packages: ${list(l.packages)}`;
  const banned = test ? [] : (l.forbiddenNames?.[name] ?? []).filter((n) => imp.names.includes(n));
  for (const n of banned) {
    if (exceptions.some((e) => e.file === imp.from && e.specifier === imp.specifier && e.name === n)) continue;
    return `${l.folder} may not import ${n} from ${name}`;
  }
  return null;
}

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  readonly why: string;
}

export interface Report {
  readonly files: number;
  readonly violations: readonly Violation[];
  /** Files that import each other through value imports. */
  readonly fileCycles: readonly (readonly string[])[];
  /** Folders of LAYERS that import each other (a folder and its subfolders excepted). */
  readonly folderCycles: readonly (readonly string[])[];
}

/** The files checked: sources under every folder of LAYERS and any other top-level folder holding sources. */
function sourceFiles(root: string): string[] {
  return globSync(`**/*.{${SOURCES.join(',')}}`, {
    cwd: root,
    exclude: (p: string) => /(^|\/)(node_modules|\.git|\.tmp)$/.test(p),
  })
    .map((p) => p.split('\\').join('/'))
    .filter((p) => p.includes('/') && !p.endsWith('.d.ts'))
    .sort();
}

/** Import cycles between non-test files (Tarjan's strongly connected components of more than one file). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return out;
}

export function checkLayers(
  root: string,
  layers: readonly Layer[] = LAYERS,
  exceptions: readonly Exception[] = EXCEPTIONS,
): Report {
  const files = sourceFiles(root);
  const violations: Violation[] = [];
  const graph = new Map<string, string[]>();
  const folders = new Map<string, Set<string>>();
  for (const file of files) {
    const { imports, impure } = scan(root, file);
    const layer = layerOf(file, layers);
    if (layer === undefined) {
      violations.push({
        file,
        line: 1,
        specifier: '',
        why: 'in no folder of LAYERS (scripts/check-layers.ts): add a row',
      });
      continue;
    }
    if (layer.pure === true && !isTest(file)) {
      for (const u of impure)
        violations.push({
          file,
          line: u.line,
          specifier: '',
          why: `uses ${u.what}: ${layer.folder} is pure (time is an argument)`,
        });
    }
    for (const imp of imports) {
      const why = judge(imp, layers, exceptions);
      if (why !== null) violations.push({ file, line: imp.line, specifier: imp.specifier, why });
    }
    if (isTest(file)) continue;
    const code = imports.filter((i) => i.target !== null && !isTest(i.target));
    graph.set(
      file,
      code.flatMap((i) => (i.typeOnly ? [] : [i.target as string])),
    );
    const from = layerOf(file, layers)!.folder;
    const edges = folders.get(from) ?? folders.set(from, new Set()).get(from)!;
    for (const i of code) {
      const to = layerOf(i.target as string, layers)?.folder;
      if (to !== undefined && !to.startsWith(from) && !from.startsWith(to)) edges.add(to);
    }
  }
  const folderGraph = new Map([...folders].map(([k, v]) => [k, [...v]]));
  return { files: files.length, violations, fileCycles: cycles(graph), folderCycles: cycles(folderGraph) };
}

// --- DEVELOPERS.md --------------------------------------------------------------------------------

const BEGIN = '<!-- layers:begin (generated by scripts/check-layers.ts --write from its LAYERS; do not edit) -->';
const END = '<!-- layers:end -->';

/** The layout table DEVELOPERS.md shows, made from LAYERS. */
export function layoutTable(layers: readonly Layer[] = LAYERS): string {
  const code = (l: Layer) =>
    l.code.includes('*')
      ? 'anything'
      : l.code.length === 0
        ? 'nothing outside it'
        : l.code.map((c) => `\`${c}\``).join(', ');
  const pk = (l: Layer) =>
    l.packages.includes('*') ? 'any' : l.packages.length === 0 ? 'none' : l.packages.map((p) => `\`${p}\``).join(', ');
  const bi = (l: Layer) =>
    l.builtins === 'all' ? 'all' : l.builtins === 'none' ? 'none' : l.builtins.map((b) => `\`${b}\``).join(', ');
  const not = (l: Layer) =>
    Object.entries(l.forbiddenNames ?? {})
      .map(([p, ns]) => `; not ${ns.map((n) => `\`${n}\``).join(', ')} from \`${p}\``)
      .join('');
  const what = (l: Layer) =>
    l.pure === true ? `${l.what}; pure: no clock, randomness, timers or \`process\`` : l.what;
  const rows = layers.map((l) => `| \`${l.folder}\` | ${what(l)} | ${code(l)} | ${pk(l)}${not(l)} | ${bi(l)} |`);
  return [
    BEGIN,
    '| folder | what | may import code from | packages | Node built-ins |',
    '|---|---|---|---|---|',
    ...rows,
    END,
  ].join('\n');
}

function developersPath(root: string): string {
  return join(root, 'DEVELOPERS.md');
}

function withTable(doc: string, table: string): string | null {
  const a = doc.indexOf(BEGIN.slice(0, BEGIN.indexOf(' ')));
  const b = doc.indexOf(END);
  if (a < 0 || b < a) return null;
  return doc.slice(0, a) + table + doc.slice(b + END.length);
}

const USAGE = `usage: sh scripts/node24.sh scripts/check-layers.ts [--write]

Checks every import against LAYERS (which folder may import what) and for cycles; exit 1 listing each problem.

  --write      rewrite DEVELOPERS.md's layout table from LAYERS instead
  -h, --help   this text
`;

function main(argv: readonly string[]): number {
  const { values: opt } = toolArgs(USAGE, { args: [...argv], options: { write: { type: 'boolean' } } });
  const root = resolve(import.meta.dirname, '..');
  const doc = readFileSync(developersPath(root), 'utf8');
  const updated = withTable(doc, layoutTable());
  if (updated === null) {
    console.error(`check-layers: DEVELOPERS.md has no ${BEGIN.slice(0, 18)} … ${END} block`);
    return 1;
  }
  if (opt.write === true) {
    writeFileSync(developersPath(root), updated);
    return 0;
  }
  const report = checkLayers(root);
  for (const v of report.violations)
    console.error(
      v.specifier === '' ? `${v.file}:${v.line}: ${v.why}` : `${v.file}:${v.line}: imports '${v.specifier}': ${v.why}`,
    );
  for (const c of report.fileCycles) console.error(`import cycle among files: ${c.join(', ')}`);
  for (const c of report.folderCycles) console.error(`import cycle among folders: ${c.join(', ')}`);
  const stale = updated !== doc;
  if (stale)
    console.error(
      'check-layers: the layout table in DEVELOPERS.md differs from LAYERS; run sh scripts/node24.sh scripts/check-layers.ts --write',
    );
  const bad = report.violations.length + report.fileCycles.length + report.folderCycles.length;
  console.log(
    `check-layers: ${report.files} files, ${bad} problem${bad === 1 ? '' : 's'}${stale ? ', DEVELOPERS.md stale' : ''}`,
  );
  return bad > 0 || stale ? 1 : 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exit(main(process.argv.slice(2)));
