// Micro-benchmark of the framing hot path (not a test: numbers are printed, nothing is asserted).
//   sh scripts/node24.sh proxy/wire/bench.ts
// Streams are pgbench -S shaped: the client sends `SELECT abalance FROM pgbench_accounts WHERE aid = N;` and the
// server answers RowDescription, DataRow, CommandComplete "SELECT 1", ReadyForQuery — simple protocol (pgbench's
// default) and extended (-M extended: Parse/Bind/Describe/Execute/Sync ↔ ParseComplete … ReadyForQuery).
// Chunkings: one transaction per read (what a socket delivers at low concurrency) and 64 KiB reads cutting
// messages anywhere (bulk / high concurrency).
import { eachFrame, FrameReader, MAX_MESSAGE_BYTES_DEFAULT } from './frames.ts';
import {
  BIND_COMPLETE,
  bind,
  commandComplete,
  dataRow,
  describe,
  execute,
  parse,
  PARSE_COMPLETE,
  query,
  RFQ_IDLE,
  rowDescription,
  SYNC,
} from './messages.ts';
import { toolArgs } from '../../test/support/tool-args.ts';

toolArgs(
  `usage: sh scripts/node24.sh proxy/wire/bench.ts

Micro-benchmark of the framing hot path on pgbench -S shaped streams (numbers printed, nothing asserted).

  -h, --help   this text
`,
  {},
);

const TX = 20_000;
const ROW = rowDescription([
  { name: 'abalance', tableOid: 16397, attnum: 3, typeOid: 23, typeLen: 4, typeMod: -1, format: 0 },
]);

function transactions(extended: boolean): { client: Buffer[]; server: Buffer[] } {
  const client: Buffer[] = [];
  const server: Buffer[] = [];
  for (let i = 0; i < TX; i++) {
    const aid = String(1 + ((i * 7919) % 100_000));
    if (extended) {
      client.push(
        Buffer.concat([
          parse('', 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;', [0]),
          bind({ params: [Buffer.from(aid)] }),
          describe('P'),
          execute(),
          SYNC,
        ]),
      );
      server.push(
        Buffer.concat([
          PARSE_COMPLETE,
          BIND_COMPLETE,
          ROW,
          dataRow([String((i % 5000) - 2500)]),
          commandComplete('SELECT 1'),
          RFQ_IDLE,
        ]),
      );
    } else {
      client.push(query(`SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`));
      server.push(Buffer.concat([ROW, dataRow([String((i % 5000) - 2500)]), commandComplete('SELECT 1'), RFQ_IDLE]));
    }
  }
  return { client, server };
}

function rechunk(parts: Buffer[], size: number): Buffer[] {
  const all = Buffer.concat(parts);
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; at += size) out.push(all.subarray(at, at + size));
  return out;
}

let sink = 0; // keeps the visitors' work observable so it is not optimised away

function countMessages(chunks: Buffer[]): number {
  let n = 0;
  eachFrame(Buffer.concat(chunks), 0, MAX_MESSAGE_BYTES_DEFAULT, () => {
    n++;
  });
  return n;
}

/** eachFrame over each chunk, carrying an unfinished tail the simple way (as a caller without FrameReader would). */
function runEachFrame(chunks: Buffer[]): void {
  let carry: Buffer | null = null;
  for (const c of chunks) {
    const buf: Buffer = carry === null ? c : Buffer.concat([carry, c]);
    const rest = eachFrame(buf, 0, MAX_MESSAGE_BYTES_DEFAULT, (type, start, end) => {
      sink += type + end - start;
    });
    carry = rest < buf.length ? buf.subarray(rest) : null;
  }
}
function runDrain(chunks: Buffer[]): void {
  const r = new FrameReader(MAX_MESSAGE_BYTES_DEFAULT);
  for (const c of chunks) {
    r.push(c);
    r.drain((_b, type, start, end) => {
      sink += type + end - start;
    });
  }
}
function runNext(chunks: Buffer[]): void {
  const r = new FrameReader(MAX_MESSAGE_BYTES_DEFAULT);
  for (const c of chunks) {
    r.push(c);
    for (let f = r.next(); f !== null; f = r.next()) sink += f.type + f.end - f.start;
  }
}

function measure(name: string, chunks: Buffer[], run: (c: Buffer[]) => void): void {
  const messages = countMessages(chunks);
  for (let i = 0; i < 20; i++) run(chunks); // warm up: let TurboFan optimise
  const rounds = 30;
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    run(chunks);
    samples.push(Number(process.hrtime.bigint() - t0) / messages);
  }
  samples.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(58)} ${samples[rounds >> 1]!.toFixed(1).padStart(7)} ns/message (median of ${rounds}; ${messages} messages, ${chunks.length} chunks)`,
  );
}

for (const extended of [false, true]) {
  const { client, server } = transactions(extended);
  const mode = extended ? 'extended' : 'simple';
  for (const [side, parts] of [
    ['server→proxy', server],
    ['client→proxy', client],
  ] as const) {
    for (const [chunking, chunks] of [
      ['1 tx per read', parts],
      ['64 KiB reads', rechunk(parts, 65536)],
    ] as const) {
      const label = `${mode} ${side} ${chunking}`;
      measure(`eachFrame       ${label}`, chunks, runEachFrame);
      measure(`FrameReader.drain ${label}`, chunks, runDrain);
      measure(`FrameReader.next  ${label}`, chunks, runNext);
    }
  }
}
if (sink === 0) console.log('');
