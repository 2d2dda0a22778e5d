// audit/: one OpenTelemetry span per statement, spooled to disk before export (design.md "Audit spans").
// May touch: the spool directory (node:fs), the OTLP collector (@grpc/grpc-js, fetch), the clock and
// randomness (trace ids). Imports nothing from proxy/, operator/ or policy/: the contract is types.ts.
import type { AuditSink } from './types.ts';
import { openAuditSink, type AuditExporter, type AuditSinkOptions } from './sink.ts';

export type { AuditExporter, AuditMetrics, AuditSinkOptions } from './sink.ts';

/**
 * Opens (or recovers) the spool in opts.spoolDir and starts exporting to opts.endpoint. With endpoint null,
 * records are only spooled (readable by `airlock audit tail`) up to maxSpoolBytes; under onFailure=block the
 * proxy then stops accepting statements when the spool is full.
 * Defaults: maxSpoolBytes 256 MiB, batchSize 2048, flushIntervalMs 200, serviceName "airlock-proxy", and spans
 * written straight into spool frames as they are recorded (lean-span.ts), one batch per spool write and export.
 */
export async function createAuditSink(opts: AuditSinkOptions): Promise<AuditSink & AuditExporter> {
  return openAuditSink({ encoder: 'lean', batchSize: PROXY_BATCH_SIZE, ...opts });
}

/**
 * The proxy's spans per spool write and export request: each batch costs a share of CPU whatever its size
 * (a flush, an fdatasync, a request), and at one span per statement 2048 spans cost ~1.4 µs less per span than
 * 512 (audit/testdata/sink-cost.ts, docs/performance.md). A request is then ~1.2 MB, under the 3 MiB the sink
 * keeps requests to; records still wait at most flushIntervalMs before they are spooled.
 */
export const PROXY_BATCH_SIZE = 2048;
