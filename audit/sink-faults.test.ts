// Issue 15, item 7 (audit part): a collector that accepts connections and never answers — a hung process, a
// proxy in the middle holding requests — must neither grow the spool past its bound nor stall the session
// path; onFailure decides what happens when the spool is full, and the spans reach a collector that answers.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpReceiver } from '../test/support/otlp-receiver.ts';
import { createAuditSink, type AuditExporter } from './index.ts';
import { session, statement } from './testdata/records.ts';

const SID = '0123456789abcdef';
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

/** Accepts TCP, reads everything, never writes a byte. */
async function hungCollector(): Promise<string> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(async () => {
    for (const s of socks) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1/traces`;
}

async function open(endpoint: string, onFailure: 'block' | 'drop-oldest'): Promise<AuditExporter> {
  const spool = mkdtempSync(join(tmpdir(), 'airlock-audit-hung-'));
  closers.push(async () => rmSync(spool, { recursive: true, force: true })); // after the sink's close (unshift)
  const sink = await createAuditSink({
    endpoint,
    protocol: 'http/protobuf',
    spoolDir: spool,
    onFailure,
    maxSpoolBytes: 64 * 1024,
    exportTimeoutMs: 200,
    flushIntervalMs: 10,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    closeTimeoutMs: 0,
    log: () => {},
  });
  closers.unshift(() => sink.close());
  return sink;
}

const big = (n: number) => statement(SID, n, { queryText: `SELECT ${'x'.repeat(900)}` });

test('a hung collector: onFailure=block stops accepting at the spool bound, then a collector that answers gets every span', async () => {
  const sink = await open(await hungCollector(), 'block');
  sink.sessionStarted(session(SID));
  let n = 0;
  const t0 = Date.now();
  for (let round = 0; round < 200 && (round === 0 || sink.accepting()); round++) {
    while (sink.accepting() && n < 5000) sink.statement(big(n++));
    await sink.flush();
  }
  assert.equal(sink.accepting(), false, 'the spool filled: statements are refused (53400 in the session)');
  assert.ok(Date.now() - t0 < 30_000, 'filling did not wait on the hung collector');
  await sink.flush();
  assert.ok(
    sink.metrics().airlock_audit_spool_bytes <= 64 * 1024,
    `spool ${sink.metrics().airlock_audit_spool_bytes} bytes`,
  );
  // Each request hangs until its deadline (exportTimeoutMs), then counts as a failure and is retried.
  for (let i = 0; i < 250 && sink.metrics().airlock_audit_export_failures_total === 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.ok(sink.metrics().airlock_audit_export_failures_total > 0, 'the hung requests timed out and were counted');
  assert.equal(sink.accepting(), false);
  // The collector comes back (here: a new endpoint): everything the spool kept arrives, and the sink accepts again.
  const rx = await startHttpReceiver();
  closers.unshift(() => rx.close());
  sink.reconfigure(rx.endpoint, 'http/protobuf', 'block');
  await rx.waitForSpans(n);
  while (!sink.accepting()) await new Promise((r) => setTimeout(r, 10));
});

test('a hung collector: onFailure=drop-oldest keeps accepting, drops and counts the oldest, spool bounded', async () => {
  const sink = await open(await hungCollector(), 'drop-oldest');
  sink.sessionStarted(session(SID));
  for (let n = 0; n < 400; n++) {
    assert.equal(sink.statement(big(n)), true);
    if (n % 50 === 49) await sink.flush();
  }
  await sink.flush();
  assert.equal(sink.accepting(), true);
  assert.ok(sink.metrics().airlock_audit_dropped_total > 0, 'the oldest were dropped and counted');
  assert.ok(
    sink.metrics().airlock_audit_spool_bytes <= 64 * 1024,
    `spool ${sink.metrics().airlock_audit_spool_bytes} bytes`,
  );
});
