// Micro-benchmark (not a test): ns per masked DataRow for a 5-column row with one masked column,
// per strategy. Run: sh scripts/node24.sh proxy/mask/bench.ts
import type { MaskStrategy } from '../../policy/types.ts';
import type { FieldInfo } from '../wire/read.ts';
import { maskDataRow } from './datarow.ts';
import { span } from './slab.ts';
import { dataRow } from '../wire/messages.ts';
import { toolArgs } from '../../test/support/tool-args.ts';

toolArgs(
  `usage: sh scripts/node24.sh proxy/mask/bench.ts

Micro-benchmark: ns per masked DataRow (5 columns, 1 masked) per strategy.

  -h, --help   this text
`,
  {},
);

const f = (typeOid: number): FieldInfo => ({
  name: 'c',
  tableOid: 16400,
  attnum: 1,
  typeOid,
  typeLen: -1,
  typeMod: -1,
  format: 0,
});
const fields = [f(23), f(25), f(25), f(1700), f(1184)];
const msg = dataRow(['12345', 'alice.smith@example.com', 'Alice Smith', '1234.50', '2024-05-01 12:34:56.789+00']);
const settings = { hashKey: Buffer.alloc(32, 1) };
const N = 1_000_000;
const out = span();

for (const s of ['redact', 'partial', 'hash', 'null'] as MaskStrategy[]) {
  const mask = [null, s, null, null, null];
  let sink = 0;
  for (let i = 0; i < 100_000; i++) sink += maskDataRow(msg, 0, msg.length, mask, fields, settings, out).end;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink += maskDataRow(msg, 0, msg.length, mask, fields, settings, out).end;
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(
    `${s.padEnd(8)} ${ns.toFixed(0).padStart(5)} ns per masked DataRow (5 columns, 1 masked, ${msg.length} bytes)${sink === 0 ? '!' : ''}`,
  );
}
