import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { AIRLOCK_KINDS } from '../policy/schema.ts';
import { startKube } from '../test/support/kube.ts';
import type { Kube } from '../test/support/kube.ts';
import { crdFor, crdPath } from './gen-crds.ts';

test('crds/ is up to date with policy/schema.ts', () => {
  for (const kind of AIRLOCK_KINDS) {
    assert.equal(
      readFileSync(crdPath(kind), 'utf8'),
      crdFor(kind),
      `${crdPath(kind)} is stale: run sh scripts/node24.sh scripts/gen-crds.ts`,
    );
  }
});

// The structural-schema rules the apiserver enforces on create, checked here so a schema change
// that breaks them fails fast: every node typed, no $ref/anyOf/oneOf, no additionalProperties beside
// properties, only JSONSchemaProps keys.
test('the CRD schemas are structural', () => {
  const allowed = new Set([
    'type',
    'properties',
    'required',
    'items',
    'enum',
    'pattern',
    'minLength',
    'maxLength',
    'minimum',
    'maximum',
    'minItems',
    'maxItems',
    'default',
    'description',
    'format',
    'additionalProperties',
    'nullable',
  ]);
  const walk = (s: Record<string, unknown>, path: string): void => {
    assert.equal(typeof s.type, 'string', `${path}: no type`);
    for (const k of Object.keys(s)) assert.ok(allowed.has(k) || k.startsWith('x-kubernetes-'), `${path}: key ${k}`);
    if (s.properties !== undefined)
      assert.equal(s.additionalProperties, undefined, `${path}: additionalProperties beside properties`);
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>))
      walk(v, `${path}.${k}`);
    if (s.items !== undefined) walk(s.items as Record<string, unknown>, `${path}[]`);
    if (typeof s.additionalProperties === 'object')
      walk(s.additionalProperties as Record<string, unknown>, `${path}{}`);
  };
  for (const kind of AIRLOCK_KINDS) {
    const crd = parse(crdFor(kind));
    const v = crd.spec.versions[0];
    assert.deepStrictEqual(
      [v.name, v.served, v.storage, crd.spec.scope, crd.spec.names.categories],
      ['v1alpha1', true, true, 'Namespaced', ['airlock']],
    );
    walk(v.schema.openAPIV3Schema, kind);
  }
  const ap = parse(crdFor('AccessPolicy'));
  assert.deepStrictEqual(ap.spec.names.shortNames, ['ap']);
  assert.equal(ap.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.mode.default, 'enforce');
});

// The real check: a real kube-apiserver accepts the CRDs, applies our defaults, runs our CEL rules,
// and stores examples/orders.yaml as written.

describe('CRDs on a real apiserver', () => {
  let kube: Kube;
  before(async () => {
    kube = await startKube();
    for (const kind of AIRLOCK_KINDS) {
      const r = await kube.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        body: parse(crdFor(kind)),
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    for (const kind of AIRLOCK_KINDS) {
      const name = parse(crdFor(kind)).metadata.name as string;
      for (let i = 0; ; i++) {
        const r = await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        const established = r.body.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
        );
        if (established) break;
        assert.ok(i < 100, `${name} never became Established`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    await kube.createNamespace('ml');
  });
  after(async () => {
    await kube?.stop();
  });

  const path = (plural: string, name = '') =>
    `/apis/airlock.dev/v1alpha1/namespaces/ml/${plural}${name === '' ? '' : `/${name}`}`;

  it('stores examples/orders.yaml', async () => {
    const docs = parseAllDocuments(readFileSync(new URL('../examples/orders.yaml', import.meta.url), 'utf8'));
    for (const d of Array.isArray(docs) ? docs : [docs]) {
      const obj = d.toJS();
      if (obj.kind === 'Secret') continue;
      const plural = obj.kind === 'AccessPolicy' ? 'accesspolicies' : 'databasebindings';
      const r = await kube.request('POST', path(plural), { body: obj });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepStrictEqual(r.body.spec, obj.spec);
    }
  });

  it('applies schema defaults', async () => {
    const r = await kube.request('POST', path('databasebindings'), {
      body: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'DatabaseBinding',
        metadata: { name: 'minimal' },
        spec: { engine: 'postgres', endpoint: { host: 'db', database: 'd' }, credentialsSecretRef: { name: 's' } },
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepStrictEqual(
      [r.body.spec.endpoint.port, r.body.spec.tls, r.body.spec.sidecar, r.body.spec.audit],
      [5432, { mode: 'require' }, { port: 5432 }, { onFailure: 'block' }],
    );
    const p = await kube.request('POST', path('accesspolicies'), {
      body: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessPolicy',
        metadata: { name: 'minimal' },
        spec: {
          subjects: [{ kind: 'User', name: 'a' }],
          databases: ['d'],
          rules: [{ name: 'r', effect: 'allow', operations: ['SELECT'] }],
          approval: { approvers: [{ kind: 'Group', name: 'dba' }] },
        },
      },
    });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    assert.equal(p.body.spec.mode, 'enforce');
    assert.deepStrictEqual(p.body.spec.approval, {
      approvers: [{ kind: 'Group', name: 'dba' }],
      minApprovals: 1,
      holdTimeout: '60s',
    });
  });

  it('rejects what the schema and its CEL rules forbid', async () => {
    const bad = await kube.request('POST', path('accesspolicies'), {
      body: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessPolicy',
        metadata: { name: 'bad' },
        spec: {
          subjects: [{ kind: 'User', name: 'a' }],
          databases: ['d'],
          rules: [{ name: 'r', effect: 'allow', operations: ['DELTE'] }],
        },
      },
    });
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /spec\.rules\[0\]\.operations\[0\]: Unsupported value: "DELTE"/);
    const tls = await kube.request('POST', path('databasebindings'), {
      body: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'DatabaseBinding',
        metadata: { name: 'tls' },
        spec: {
          engine: 'postgres',
          endpoint: { host: 'db', database: 'd' },
          credentialsSecretRef: { name: 's' },
          tls: { mode: 'verify-full' },
        },
      },
    });
    assert.equal(tls.status, 422);
    assert.match(tls.body.message, /tls.mode verify-full needs caSecretRef/);
    const req = await kube.request('POST', path('accessrequests'), {
      body: {
        apiVersion: 'airlock.dev/v1alpha1',
        kind: 'AccessRequest',
        metadata: { name: 'r' },
        spec: { subject: { kind: 'User', name: 'a' }, database: 'd' },
      },
    });
    assert.equal(req.status, 422);
    assert.match(req.body.message, /set exactly one of rules or statement/);
  });
});
