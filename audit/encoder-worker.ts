// The audit encoder's worker thread (encoder.ts, hosted by sink.ts's WorkerEncoderHost). Protocol, one
// message per line of work, answered in order:
//   → { id, items: EncodeItem[] }            ← { id, frames: ArrayBuffer } (transferred) | { id, error }
//   ← { envelope } once at start, ← { log } whenever the encoder logs.
import { parentPort, workerData } from 'node:worker_threads';
import { SpanEncoder, type EncodeItem } from './encoder.ts';

const port = parentPort!;
const data = workerData as { serviceName: string; scopeName: string; maxQueryTextBytes: number };
const encoder = new SpanEncoder({ ...data, log: (message) => port.postMessage({ log: message }) });
port.postMessage({
  envelope: { resourceField: encoder.envelope.resourceField, scopeField: encoder.envelope.scopeField },
});

port.on('message', (m: { id: number; items: EncodeItem[] }) => {
  let frames: Buffer;
  try {
    frames = encoder.encode(m.items);
  } catch (err) {
    port.postMessage({ id: m.id, error: (err as Error).message });
    return;
  }
  const ab = frames.buffer as ArrayBuffer;
  // allocUnsafeSlow gave the frames an ArrayBuffer of their own; an empty result may share one: copy that.
  if (frames.byteOffset === 0 && frames.length === ab.byteLength) port.postMessage({ id: m.id, frames: ab }, [ab]);
  else
    port.postMessage({ id: m.id, frames: frames.buffer.slice(frames.byteOffset, frames.byteOffset + frames.length) });
});
