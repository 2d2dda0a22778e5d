import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, parseFrames, readRecentPayloads, sealFrame, segmentName, Spool } from './spool.ts';

function frames(...payloads: string[]): Buffer {
  const parts = payloads.map((p) => {
    const b = Buffer.alloc(FRAME_HEADER_BYTES + Buffer.byteLength(p));
    b.write(p, FRAME_HEADER_BYTES);
    sealFrame(b, 0, b.length);
    return b;
  });
  return Buffer.concat(parts);
}
const dir = (): string => mkdtempSync(join(tmpdir(), 'airlock-spool-'));

async function drain(s: Spool): Promise<string[]> {
  const out: string[] = [];
  for (let b = await s.readBatch(1000, 1 << 20); b !== null; b = await s.readBatch(1000, 1 << 20)) {
    out.push(...b.payloads.map((p) => p.toString()));
    await s.ack(b);
  }
  return out;
}

test('records come back in order, batches respect the record limit, acks delete segments', async () => {
  const d = dir();
  const s = await Spool.open({ dir: d, maxBytes: 1 << 20, segmentBytes: 64 });
  for (let i = 0; i < 20; i++) await s.append(frames(`record-${i}`));
  assert.ok(readdirSync(d).filter((n) => n.endsWith('.seg')).length > 1, 'small segments roll');
  const first = await s.readBatch(2, 1 << 20);
  assert.deepEqual(first!.payloads.map(String), ['record-0', 'record-1']);
  await s.ack(first!);
  assert.deepEqual(
    await drain(s),
    Array.from({ length: 18 }, (_, i) => `record-${i + 2}`),
  );
  await s.close();
  assert.deepEqual(
    readdirSync(d).filter((n) => n.endsWith('.seg')),
    [],
    'every acknowledged segment is gone',
  );
});

test('after a restart only unacknowledged records are read again', async () => {
  const d = dir();
  let s = await Spool.open({ dir: d, maxBytes: 1 << 20 });
  await s.append(frames('a', 'b', 'c'));
  const b = await s.readBatch(2, 1 << 20);
  await s.ack(b!);
  await s.close();
  s = await Spool.open({ dir: d, maxBytes: 1 << 20 });
  assert.deepEqual(await drain(s), ['c']);
  await s.append(frames('d'));
  assert.deepEqual(await drain(s), ['d']);
  await s.close();
});

test('a torn tail is detected by length and CRC and truncated; the records before it survive', async () => {
  for (const [name, tear] of [
    ['half a header', (f: string) => appendFileSync(f, Buffer.from([9, 0, 0]))],
    ['half a payload', (f: string) => appendFileSync(f, frames('torn-record').subarray(0, 12))],
    ['zeros (extended file)', (f: string) => appendFileSync(f, Buffer.alloc(64))],
    [
      'CRC mismatch',
      (f: string) => {
        const bad = frames('flipped');
        bad[bad.length - 1]! ^= 0xff;
        appendFileSync(f, bad);
      },
    ],
    ['cut inside the last record', (f: string) => truncateSync(f, statSync(f).size - 3)],
  ] as const) {
    const d = dir();
    const s = await Spool.open({ dir: d, maxBytes: 1 << 20 });
    await s.append(frames('one', 'two', 'three'));
    await s.close();
    const file = join(d, segmentName(1));
    const goodSize = statSync(file).size;
    tear(file);
    const logs: string[] = [];
    const r = await Spool.open({ dir: d, maxBytes: 1 << 20, log: (m) => logs.push(m) });
    const want = name === 'cut inside the last record' ? ['one', 'two'] : ['one', 'two', 'three'];
    assert.ok(statSync(file).size <= goodSize, `${name}: file truncated to its valid prefix`);
    assert.deepEqual(parseFrames(readFileSync(file), 0).end, statSync(file).size, `${name}: nothing invalid left`);
    assert.deepEqual(await drain(r), want, name);
    assert.match(logs.join('\n'), /Truncated torn audit spool tail/, name);
    await r.close();
  }
});

test('an unreadable ack file or one off a frame boundary re-sends rather than skips', async () => {
  for (const content of ['garbage', 'airlock-audit-ack 1 1 5\n', 'airlock-audit-ack 1 99 0\n']) {
    const d = dir();
    const s = await Spool.open({ dir: d, maxBytes: 1 << 20 });
    await s.append(frames('x', 'y'));
    await s.close();
    writeFileSync(join(d, 'ack'), content);
    const r = await Spool.open({ dir: d, maxBytes: 1 << 20, log: () => {} });
    assert.deepEqual(await drain(r), ['x', 'y'], content);
    await r.close();
  }
});

test('makeRoom drops whole oldest segments and counts their unacknowledged records', async () => {
  const d = dir();
  const s = await Spool.open({ dir: d, maxBytes: 200, segmentBytes: 60 });
  for (let i = 0; i < 6; i++) await s.append(frames(`r${i}-`.padEnd(20, '.'))); // 28 bytes per frame
  const acked = await s.readBatch(1, 1 << 20);
  await s.ack(acked!); // r0 acknowledged
  const dropped = await s.makeRoom(100);
  assert.ok(s.bytes + 100 <= 200);
  const left = await drain(s);
  assert.equal(dropped + left.length, 5, 'every unacknowledged record is either dropped (counted) or still there');
  assert.ok(left.at(-1)!.startsWith('r5-'), 'the newest survive');
  await s.close();
});

test('readRecentPayloads returns the newest frames across segments, oldest first', async () => {
  const d = dir();
  const s = await Spool.open({ dir: d, maxBytes: 1 << 20, segmentBytes: 40 });
  for (let i = 0; i < 10; i++) await s.append(frames(`p${i}`));
  await s.close();
  assert.deepEqual(readRecentPayloads(d, 3).map(String), ['p7', 'p8', 'p9']);
  assert.deepEqual(
    parseFrames(readFileSync(join(d, segmentName(1))), 0)
      .payloads.map(String)
      .slice(0, 1),
    ['p0'],
  );
});

test('frames this process appended are exported from memory until acknowledged, then released; a restart reads the file', async () => {
  const d = dir();
  const s = await Spool.open({ dir: d, maxBytes: 1 << 20 });
  const released: Buffer[] = [];
  s.onRelease = (b) => released.push(b);
  const a = frames('a1', 'a2', 'a3');
  await s.append(a);
  // Overwrite the file's copy: a batch that still comes back intact came from memory.
  const seg = join(d, segmentName(1));
  writeFileSync(seg, Buffer.alloc(statSync(seg).size));
  const first = await s.readBatch(2, 1 << 20);
  assert.deepEqual(first!.payloads.map(String), ['a1', 'a2']);
  await s.ack(first!);
  assert.deepEqual(released, [], 'kept while a3 is unacknowledged');
  const second = await s.readBatch(10, 1 << 20);
  assert.deepEqual(second!.payloads.map(String), ['a3']);
  await s.ack(second!);
  assert.equal(released.length, 1);
  assert.equal(released[0], a, 'the appended buffer itself, for reuse');
  await s.append(frames('b1'));
  await s.close();
  // After a restart, nothing is in memory: the zeroed frames are found by their CRC, not sent.
  const again = await Spool.open({ dir: d, maxBytes: 1 << 20 });
  assert.equal(await again.readBatch(10, 1 << 20), null);
  await again.close();
});

test('a backlog larger than the in-memory window is read back from the file, in order, with nothing lost', async () => {
  const d = dir();
  const s = await Spool.open({ dir: d, maxBytes: 64 << 20 });
  const big = 'x'.repeat(200 * 1024);
  for (let i = 0; i < 30; i++) await s.append(frames(`${i}:${big}`)); // ~6 MiB unacknowledged: over the 4 MiB window
  const got = (await drain(s)).map((p) => p.slice(0, p.indexOf(':')));
  assert.deepEqual(
    got,
    Array.from({ length: 30 }, (_, i) => String(i)),
  );
  await s.close();
});

test('a batch read from the file ends short of maxRecords when its frames are larger than the read, and the rest follows', async () => {
  const d = dir();
  const s = await Spool.open({ dir: d, maxBytes: 64 << 20 });
  await s.append(frames('a'.repeat(40_000), 'b'.repeat(40_000), 'c'.repeat(100_000), 'd'));
  await s.close();
  const r = await Spool.open({ dir: d, maxBytes: 64 << 20 }); // nothing in memory: file reads
  const sizes: number[][] = [];
  for (let b = await r.readBatch(2, 1 << 20); b !== null; b = await r.readBatch(2, 1 << 20)) {
    sizes.push(b.payloads.map((p) => p.length));
    await r.ack(b);
  }
  assert.deepEqual(sizes.flat(), [40_000, 40_000, 100_000, 1]);
  assert.ok(sizes.length >= 3, 'the 64 KiB read splits them');
  await r.close();
});
