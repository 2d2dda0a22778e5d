// An upstream that drops SYNs, made without root or network tricks: a child process listens on loopback with
// a backlog of 1 and never accepts (its event loop blocks in Atomics.wait). Once the kernel's accept queue is
// full — `fill` connections complete into it — Linux drops every further SYN (tcp_abort_on_overflow=0), so a
// connect() hangs through the kernel's SYN retries (~127 s with tcp_syn_retries=6) exactly as it does towards a
// firewalled or dead host.
import { spawn } from 'node:child_process';
import net from 'node:net';

const CHILD = `
const net = require('node:net');
const s = net.createServer();
s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  // Block right here: stdout to a pipe is written synchronously, and returning to the event loop even once
  // would let it accept the connections this listener must leave in the kernel's queue.
  process.stdout.write(s.address().port + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
`;

export interface Blackhole {
  readonly port: number;
  close(): void;
}

export async function startBlackhole(): Promise<Blackhole> {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`blackhole listener exited ${code}`)));
  });
  // Fill the accept queue: these complete the handshake; every later SYN is dropped.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    fillers.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
  }
  // Prove it: one more connect must still be pending after a while.
  const probe = net.connect({ host: '127.0.0.1', port });
  probe.on('error', () => {});
  const connected = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 300);
    probe.once('connect', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
  probe.destroy();
  if (connected) {
    child.kill('SIGKILL');
    throw new Error(
      'blackhole: a connect completed although the accept queue was full; SYNs are not being dropped here',
    );
  }
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
