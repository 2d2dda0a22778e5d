// The Argo CD and Flux examples (examples/gitops/) are checked as far as can be without their CRDs,
// which the test apiserver does not have:
//   - Flux: every object is decoded into Flux's own Go API types (source-controller v1 GitRepository,
//     kustomize-controller v1 Kustomization, helm-controller v2 HelmRelease, from the Go module proxy;
//     test/kstatus -flux) with unknown fields and wrong types rejected, plus the fields the CRDs require;
//   - Argo CD: no Go API module builds here (argo-cd's gitops-engine does not resolve on this Go), so the
//     Application is checked against the fields its CRD defines that the example uses, written out below;
//   - both: they point at paths that exist in this repository and hold what they claim.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { kstatus } from '../support/kstatus.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const gitops = join(repo, 'examples', 'gitops');
type Obj = Record<string, any>;
const docs = (p: string): Obj[] =>
  parseAllDocuments(readFileSync(p, 'utf8'))
    .map((d) => {
      assert.deepEqual(d.errors, [], `${p}: YAML errors`);
      return d.toJS() as Obj;
    })
    .filter((x) => x !== null);
const fluxFiles = ['sources.yaml', 'kustomizations.yaml', 'release/helmrelease.yaml'].map((f) =>
  join(gitops, 'flux', f),
);

test("Flux: every object decodes strictly into Flux's Go API types", async () => {
  const objs = fluxFiles.flatMap(docs);
  assert.deepEqual(objs.map((o) => `${o.apiVersion} ${o.kind}`).sort(), [
    'helm.toolkit.fluxcd.io/v2 HelmRelease',
    'kustomize.toolkit.fluxcd.io/v1 Kustomization',
    'kustomize.toolkit.fluxcd.io/v1 Kustomization',
    'source.toolkit.fluxcd.io/v1 GitRepository',
    'source.toolkit.fluxcd.io/v1 GitRepository',
  ]);
  const r = await kstatus(objs, ['-flux']);
  for (const x of r) assert.equal(x.status, 'Valid', `${x.kind} ${x.name}: ${x.error}`);
  // The checker does reject: a misspelled field, a bad duration, a kind it does not know.
  const bad = await kstatus(
    [
      { ...objs[2], spec: { ...objs[2]!.spec, intervall: '1m' } },
      { ...objs[2], spec: { ...objs[2]!.spec, interval: 'ten minutes' } },
      { apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomisation', metadata: { name: 'x' } },
    ],
    ['-flux'],
  );
  assert.deepEqual(
    bad.map((x) => x.status),
    ['Invalid', 'Invalid', 'Invalid'],
  );
  assert.match(bad[0]!.error ?? '', /unknown field "intervall"/);
});

test('Flux: the fields the CRDs require are set, and the references resolve', () => {
  const objs = fluxFiles.flatMap(docs);
  const repos = new Set(objs.filter((o) => o.kind === 'GitRepository').map((o) => o.metadata.name));
  for (const o of objs) {
    assert.ok(o.metadata?.name && o.metadata?.namespace, `${o.kind}: metadata.name and namespace`);
    assert.ok(o.spec?.interval, `${o.kind} ${o.metadata.name}: spec.interval is required`);
    if (o.kind === 'GitRepository') assert.match(o.spec.url, /^(https?|ssh):\/\//);
    if (o.kind === 'Kustomization') {
      assert.equal(typeof o.spec.prune, 'boolean', `${o.metadata.name}: spec.prune is required`);
      assert.ok(repos.has(o.spec.sourceRef.name), `${o.metadata.name}: sourceRef ${o.spec.sourceRef.name}`);
      assert.equal(o.spec.wait, true, `${o.metadata.name}: wait: true is what makes Flux read the operator's status`);
    }
    if (o.kind === 'HelmRelease') {
      assert.ok(repos.has(o.spec.chart.spec.sourceRef.name));
      assert.ok(
        existsSync(join(repo, o.spec.chart.spec.chart, 'Chart.yaml')),
        'the chart path exists in this repository',
      );
    }
  }
  const airlock = objs.find((o) => o.kind === 'Kustomization' && o.metadata.name === 'airlock')!;
  assert.ok(
    existsSync(join(repo, airlock.spec.path, 'helmrelease.yaml')),
    'the release path exists in this repository',
  );
  const policies = objs.find((o) => o.kind === 'Kustomization' && o.metadata.name === 'ml-database-policies')!;
  assert.deepEqual(policies.spec.dependsOn, [{ name: 'airlock' }]);
});

// The Application fields (argoproj.io/v1alpha1, Argo CD's application-crd.yaml) the examples may use.
const APP_SPEC = [
  'project',
  'source',
  'sources',
  'destination',
  'syncPolicy',
  'ignoreDifferences',
  'info',
  'revisionHistoryLimit',
];
const APP_SOURCE = [
  'repoURL',
  'targetRevision',
  'path',
  'chart',
  'directory',
  'helm',
  'kustomize',
  'plugin',
  'ref',
  'name',
];
const APP_DIRECTORY = ['recurse', 'include', 'exclude', 'jsonnet'];
const APP_HELM = [
  'releaseName',
  'values',
  'valuesObject',
  'valueFiles',
  'parameters',
  'fileParameters',
  'skipCrds',
  'passCredentials',
  'ignoreMissingValueFiles',
  'version',
  'namespace',
  'kubeVersion',
  'apiVersions',
  'skipTests',
  'skipSchemaValidation',
];
const APP_DEST = ['server', 'name', 'namespace'];
const APP_SYNC = ['automated', 'syncOptions', 'retry', 'managedNamespaceMetadata'];
const APP_AUTOMATED = ['prune', 'selfHeal', 'allowEmpty', 'enabled'];
const APP_RETRY = ['limit', 'backoff', 'refresh'];
const APP_BACKOFF = ['duration', 'factor', 'maxDuration'];
const SYNC_OPTIONS =
  /^(CreateNamespace|ServerSideApply|PruneLast|ApplyOutOfSyncOnly|PrunePropagationPolicy|Replace|Validate|RespectIgnoreDifferences|FailOnSharedResource|SkipDryRunOnMissingResource)=/;
function only(o: Obj | undefined, allowed: string[], where: string): void {
  if (o === undefined) return;
  for (const k of Object.keys(o))
    assert.ok(allowed.includes(k), `${where}.${k} is not a field of an Argo CD Application`);
}

test('Argo CD: the Applications use only Application fields, and point at what exists', () => {
  const apps = docs(join(gitops, 'argocd', 'application.yaml'));
  assert.equal(apps.length, 2);
  for (const a of apps) {
    assert.equal(a.apiVersion, 'argoproj.io/v1alpha1');
    assert.equal(a.kind, 'Application');
    only(a.spec, APP_SPEC, 'spec');
    only(a.spec.source, APP_SOURCE, 'spec.source');
    only(a.spec.source.directory, APP_DIRECTORY, 'spec.source.directory');
    only(a.spec.source.helm, APP_HELM, 'spec.source.helm');
    only(a.spec.destination, APP_DEST, 'spec.destination');
    only(a.spec.syncPolicy, APP_SYNC, 'spec.syncPolicy');
    only(a.spec.syncPolicy.automated, APP_AUTOMATED, 'spec.syncPolicy.automated');
    only(a.spec.syncPolicy.retry, APP_RETRY, 'spec.syncPolicy.retry');
    only(a.spec.syncPolicy.retry?.backoff, APP_BACKOFF, 'spec.syncPolicy.retry.backoff');
    for (const s of a.spec.syncPolicy.syncOptions ?? []) assert.match(s, SYNC_OPTIONS);
    assert.ok(a.spec.project && a.spec.source.repoURL && a.spec.destination.server && a.spec.destination.namespace);
  }
  const chart = apps.find((a) => a.metadata.name === 'airlock')!;
  assert.ok(existsSync(join(repo, chart.spec.source.path, 'Chart.yaml')));
  const values = readFileSync(join(repo, chart.spec.source.path, 'values.yaml'), 'utf8');
  for (const k of Object.keys(chart.spec.source.helm.valuesObject))
    assert.match(values, new RegExp(`^${k}:`, 'm'), `chart value ${k}`);
  const policies = apps.find((a) => a.metadata.name === 'ml-database-policies')!;
  assert.match(policies.spec.source.directory.exclude, /tests\/\*/, 'policy test cases are not applied');
});

test('the argocd-cm snippet is a ConfigMap patch for argocd-cm whose keys Argo CD reads', () => {
  const [cm] = docs(join(gitops, 'argocd', 'argocd-cm.yaml'));
  assert.deepEqual([cm!.apiVersion, cm!.kind, cm!.metadata.name], ['v1', 'ConfigMap', 'argocd-cm']);
  for (const k of Object.keys(cm!.data))
    assert.match(k, /^resource\.customizations\.health\.airlock\.dev_(AccessPolicy|DatabaseBinding|AccessRequest)$/);
  // The three kinds are the CRDs this repository ships.
  const kinds = readdirSync(join(repo, 'crds')).map(
    (f) => readFileSync(join(repo, 'crds', f), 'utf8').match(/^\s+kind: (\w+)$/m)?.[1],
  );
  for (const k of ['AccessPolicy', 'DatabaseBinding', 'AccessRequest'])
    assert.ok(kinds.includes(k), `crds/ defines ${k}`);
});
