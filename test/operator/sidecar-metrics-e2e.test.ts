// End to end for opt-in sidecar metrics: an Operator started with sidecar metrics on (`--sidecar-metrics`,
// chart sidecar.metrics.enabled) and a real kube-apiserver; the pod goes through the real webhook, and its
// sidecar runs as a process with exactly the args the webhook wrote (test/support/operator.ts
// startInjectedSidecar) in front of a real PostgreSQL. The scrape target is what a PodMonitor would use:
// the container port named `health`, path /metrics. Flag and endpoint details: test/proxy/sidecar-metrics.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startKube } from '../support/kube.ts';
import type { Kube } from '../support/kube.ts';
import {
  accessPolicy,
  eventuallyWithin,
  operatorOptions,
  registerWebhooks,
  seedOrdersScenario,
  startInjectedSidecar,
} from '../support/operator.ts';
import type { InjectedSidecar } from '../support/operator.ts';
import { freePort } from '../support/ports.ts';
import { adminQuery, createRole, quoteIdent, testDatabase, uniqueName } from '../support/pg.ts';
import type { TestDatabase } from '../support/pg.ts';
import { KubeClient } from '../../operator/kube.ts';
import { Operator } from '../../operator/operator.ts';

// A separate process in the loop: waits get 20 s.
const eventually = eventuallyWithin(20_000);

const get = (port: number, path: string): Promise<{ status: number; body: string }> =>
  new Promise((done, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c: string) => {
            body += c;
          })
          .on('end', () => done({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('sidecar metrics end to end', () => {
  let kube: Kube;
  let op: Operator;
  let db: TestDatabase;
  let sidecar: InjectedSidecar | undefined;
  let log = '';
  const tmp = mkdtempSync(join(tmpdir(), 'airlock-sidecar-metrics-e2e-'));

  before(async () => {
    [kube, db] = await Promise.all([startKube(), testDatabase('sidecar_metrics_e2e')]);
    await adminQuery(
      db.server,
      'CREATE TABLE public.items (id int PRIMARY KEY); INSERT INTO public.items VALUES (1)',
      db.database,
    );
    const role = await createRole(uniqueName('airlock_app'), 'app-secret');
    await adminQuery(db.server, `GRANT SELECT ON public.items TO ${quoteIdent(role.user)}`, db.database);
    await seedOrdersScenario(kube, db, role, accessPolicy('trainer'));
    const webhookPort = await freePort();
    await registerWebhooks(kube, webhookPort, { pods: true });
    op = new Operator(
      operatorOptions(KubeClient.fromFile(kube.kubeconfigPath), webhookPort, {
        sidecar: {
          image: 'ghcr.io/airlock-dev/airlock:e2e',
          operatorAddress: 'airlock-operator.airlock-system.svc:9090',
          metrics: true,
        },
      }),
    );
    const started = await op.start();
    sidecar = await startInjectedSidecar(kube, {
      grpcPort: started.grpcPort,
      dir: tmp,
      onOutput: (t) => {
        log += t;
      },
    });
  });

  after(async () => {
    if (sidecar !== undefined && sidecar.child.exitCode === null) {
      sidecar.child.kill('SIGTERM');
      await sidecar.exited;
    }
    await op?.stop();
    await kube?.stop();
    await db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('the webhook gives the sidecar --metrics; its health port serves the statements it ran', async () => {
    const s = sidecar!;
    assert.ok(s.args.includes('--metrics'), `injected args: ${s.args.join(' ')}`);
    await eventually('sidecar /readyz', async () =>
      (await get(s.healthPort, '/readyz')).status === 200 ? true : undefined,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${log}`);
    });
    const c = new pg.Client({
      host: '127.0.0.1',
      port: s.listenPort,
      database: 'orders',
      user: 'app',
      password: 'anything',
    });
    await c.connect();
    try {
      assert.deepEqual((await c.query('SELECT id FROM public.items')).rows, [{ id: 1 }]);
    } finally {
      await c.end();
    }
    const m = await get(s.healthPort, '/metrics');
    assert.equal(m.status, 200, m.body);
    assert.ok((sample(m.body, 'airlock_statements_total{decision="allow"}') ?? 0) >= 1, m.body);
    assert.equal(sample(m.body, 'airlock_policy_generation'), 1, m.body);
  });
});
