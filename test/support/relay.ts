// A TCP relay in front of a server whose link can be cut silently: while cut, bytes in either direction are
// dropped (nothing is forwarded, no FIN or RST is sent) and new connections are accepted but go nowhere, as
// with a dropped network path (style.md §9: a pausable TCP proxy). restore() forwards again; connections that
// were cut are ended, as their peers will have given up on them.
import net from 'node:net';

export interface Relay {
  readonly port: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  let isCut = false;
  const pairs = new Set<{ a: net.Socket; b: net.Socket | null }>();
  const server = net.createServer((a) => {
    a.on('error', () => {});
    const pair: { a: net.Socket; b: net.Socket | null } = { a, b: null };
    pairs.add(pair);
    a.once('close', () => { pairs.delete(pair); pair.b?.destroy(); });
    if (isCut) { a.pause(); return; }
    const b = net.connect(target);
    pair.b = b;
    b.on('error', () => a.destroy());
    b.once('close', () => a.destroy());
    a.on('data', (d) => { if (!isCut) b.write(d); });
    b.on('data', (d) => { if (!isCut) a.write(d); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() { isCut = true; },
    restore() {
      isCut = false;
      for (const p of [...pairs]) { p.a.destroy(); p.b?.destroy(); }
    },
    async close() {
      for (const p of [...pairs]) { p.a.destroy(); p.b?.destroy(); }
      await new Promise((r) => server.close(r));
    },
  };
}
