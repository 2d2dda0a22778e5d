// Child process for the crash test (sink.test.ts): spools `count` statements, makes them durable, prints
// "durable", then keeps writing until the parent kills it with SIGKILL, mid-flush as likely as not.
import { createAuditSink } from '../index.ts';
import { session, statement } from './records.ts';

const [spoolDir, countArg] = process.argv.slice(2);
const count = Number(countArg);
const sink = await createAuditSink({
  endpoint: null,
  protocol: 'grpc',
  spoolDir: spoolDir!,
  onFailure: 'drop-oldest',
  flushIntervalMs: 1,
});
sink.sessionStarted(session('00000000000000c1'));
for (let i = 0; i < count; i++)
  sink.statement(statement('00000000000000c1', i, { queryText: `SELECT before_crash_${i}` }));
await sink.flush();
process.stdout.write('durable\n');
let n = 0;
setInterval(() => {
  for (let i = 0; i < 50; i++)
    sink.statement(statement('00000000000000c1', count + n, { queryText: `SELECT after_${n++}` }));
}, 1);
