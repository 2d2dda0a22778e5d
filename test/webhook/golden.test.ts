// Golden pods (style.md §9, after istio/istio pkg/kube/inject/inject_test.go): every test/webhook/NAME.yaml
// is an input — one Pod, the DatabaseBindings in the cluster, optionally a `TestOptions` document — and
// NAME.injected.yaml the expected pod, or NAME.skipped (injection must not happen; the file says why) or
// NAME.error (the pod is refused; the file holds the message). New inputs are picked up automatically.
// UPDATE_GOLDEN=1 rewrites the expectations from the current code: review the diff before committing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { DatabaseBinding } from '../../policy/types.ts';
import { InjectError, inject } from '../../operator/webhook/inject.ts';
import type { InjectOptions } from '../../operator/webhook/inject.ts';
import type { Pod } from '../../operator/pod.ts';
import { applyPatch, diff } from '../../operator/webhook/patch.ts';

const dir = import.meta.dirname;
const update = process.env.UPDATE_GOLDEN === '1';
const inputs = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && !f.endsWith('.injected.yaml'))
  .sort();

const BASE: InjectOptions = {
  image: 'ghcr.io/airlock-dev/airlock:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  operatorAddress: 'airlock-operator.airlock-system.svc:9090',
  operatorNamespace: 'airlock-system',
  kubernetesMinor: 31,
};

function load(file: string): { pod: Pod; bindings: DatabaseBinding[]; opts: InjectOptions } {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
    return d.toJS() as { kind?: string };
  });
  const pods = docs.filter((d) => d.kind === 'Pod') as Pod[];
  if (pods.length !== 1) throw new Error(`${file}: needs exactly one Pod document, has ${pods.length}`);
  const extra = docs.find((d) => d.kind === 'TestOptions') as Partial<InjectOptions> | undefined;
  const { kind: _k, ...overrides } = (extra ?? {}) as Partial<InjectOptions> & { kind?: string };
  return {
    pod: pods[0] as Pod,
    bindings: docs.filter((d) => d.kind === 'DatabaseBinding') as DatabaseBinding[],
    opts: { ...BASE, ...overrides },
  };
}

test('there are at least 10 golden inputs', () => assert.ok(inputs.length >= 10, `only ${inputs.length}`));

for (const file of inputs) {
  const name = file.slice(0, -'.yaml'.length);
  test(`golden ${name}`, () => {
    const { pod, bindings, opts } = load(file);
    const paths = {
      injected: join(dir, `${name}.injected.yaml`),
      skipped: join(dir, `${name}.skipped`),
      error: join(dir, `${name}.error`),
    };
    let got: { kind: 'injected'; pod: Pod } | { kind: 'skipped' } | { kind: 'error'; message: string };
    try {
      const out = inject(pod, bindings, opts);
      got = out === undefined ? { kind: 'skipped' } : { kind: 'injected', pod: out };
    } catch (e) {
      if (!(e instanceof InjectError)) throw e;
      got = { kind: 'error', message: e.message };
    }
    if (update) {
      for (const p of Object.values(paths)) rmSync(p, { force: true });
      if (got.kind === 'injected') writeFileSync(paths.injected, stringify(got.pod, { lineWidth: 0 }));
      else if (got.kind === 'error') writeFileSync(paths.error, `${got.message}\n`);
      else writeFileSync(paths.skipped, 'inject() returned undefined: no change to this pod\n');
    }
    const want = existsSync(paths.injected)
      ? 'injected'
      : existsSync(paths.error)
        ? 'error'
        : existsSync(paths.skipped)
          ? 'skipped'
          : null;
    assert.notEqual(
      want,
      null,
      `${name}: no expectation (${name}.injected.yaml, .skipped or .error); run with UPDATE_GOLDEN=1`,
    );
    assert.equal(got.kind, want, `${name}: expected ${want}, got ${got.kind}`);
    if (got.kind === 'error') assert.equal(`${got.message}\n`, readFileSync(paths.error, 'utf8'));
    if (got.kind !== 'injected') return;

    assert.deepEqual(got.pod, parseAllDocuments(readFileSync(paths.injected, 'utf8'))[0]?.toJS());
    // The webhook's answer is the diff; applied to the input it must give exactly the golden pod.
    assert.deepEqual(applyPatch(pod, diff(pod, got.pod)), got.pod);
    // Idempotent: the apiserver may call the webhook again (reinvocationPolicy IfNeeded).
    assert.equal(inject(got.pod, bindings, opts), undefined, `${name}: a second injection changed the pod`);
    // Never credentials in the pod: nothing like a password anywhere in what we added.
    assert.doesNotMatch(JSON.stringify(diff(pod, got.pod)), /password|PGPASSWORD|secretKeyRef/i);
  });
}
