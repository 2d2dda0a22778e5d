// NotificationResponse payloads for a session subject to masking (issue 11, class 2).
//
// A payload is text some session chose to send: another service's pg_notify, a trigger's
// pg_notify(chan, NEW.ssn), or this session's own statement. The proxy checks what its own session
// sends (a value derived from a masked column may not flow into pg_notify's payload, policy/decide.ts),
// but it cannot trace a payload it receives back to any column: a trigger or another session may have
// put a masked value in it. So for an identity with masked columns every payload is blanked; the
// channel and the sender's PID stay, so LISTEN still works as a wake-up signal and the listener reads
// the data it needs through the proxy, where masking applies. An identity without masking gets the
// message as it came (nothing it receives can bypass a mask it does not have).
import { Backend } from '../wire/codes.ts';
import { WireError } from '../wire/frames.ts';

/**
 * NotificationResponse (protocol-message-formats: 'A', Int32 length, Int32 process ID, String channel,
 * String payload) at [start, end) of buf, rebuilt with an empty payload.
 */
export function notificationWithoutPayload(buf: Buffer, start: number, end: number): Buffer {
  const channelAt = start + 9;
  const z = buf.indexOf(0, channelAt);
  if (end - start < 11 || z < 0 || z >= end - 1)
    throw new WireError('NotificationResponse without a channel and payload');
  if (buf[end - 1] !== 0) throw new WireError('NotificationResponse payload is not terminated');
  const channelLen = z - channelAt;
  const out = Buffer.allocUnsafe(1 + 4 + 4 + channelLen + 1 + 1); // every byte written below
  out[0] = Backend.NotificationResponse;
  out.writeInt32BE(out.length - 1, 1);
  out.writeInt32BE(buf.readInt32BE(start + 5), 5);
  buf.copy(out, 9, channelAt, z);
  out[9 + channelLen] = 0;
  out[10 + channelLen] = 0;
  return out;
}
