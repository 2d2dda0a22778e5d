// Child process for sink.test.ts: runs the proxy's audit path (lean encoder) for a few statements and
// prints which OpenTelemetry packages the MAIN thread loaded (module hooks are per thread). Loaded, not
// resolved: lean-span.ts resolves @opentelemetry/core only to read its package.json's version.
import { registerHooks } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const seen = new Set<string>();
registerHooks({
  load(url, context, next) {
    const m = /node_modules\/(@opentelemetry\/[^/]+)/.exec(url);
    if (m !== null) seen.add(m[1]!);
    return next(url, context);
  },
});
const { createAuditSink } = await import('../index.ts');
const { session, statement } = await import('./records.ts');
const sink = await createAuditSink({
  endpoint: null,
  protocol: 'grpc',
  spoolDir: mkdtempSync(join(tmpdir(), 'airlock-mt-')),
  onFailure: 'block',
  log: () => {},
});
sink.sessionStarted(session('0123456789abcdef'));
for (let i = 0; i < 10; i++) sink.statement(statement('0123456789abcdef', i));
await sink.flush();
const spooled = sink.metrics().airlock_audit_spool_bytes;
await sink.close();
process.stdout.write(JSON.stringify({ loaded: [...seen], spooled }));
