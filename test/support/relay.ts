// A TCP relay in front of a server whose link can be cut silently: while cut, bytes in either direction are
// dropped (nothing is forwarded, no FIN or RST is sent) and new connections are accepted but go nowhere, as
// with a dropped network path (style.md §9: a pausable TCP proxy). restore() forwards again; connections that
// were cut are ended, as their peers will have given up on them — or, with `{ endCut: false }`, stay open
// and silent for good, as after a NAT or conntrack entry was lost: only new connections get through, and
// a client learns that an old one is dead only by noticing that nothing arrives on it.
import net from 'node:net';

export interface Relay {
  readonly port: number;
  cut(): void;
  restore(opts?: { endCut?: boolean }): void;
  close(): Promise<void>;
}

interface Pair {
  a: net.Socket;
  b: net.Socket | null;
  dead: boolean;
}

export async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  let isCut = false;
  const pairs = new Set<Pair>();
  const server = net.createServer((a) => {
    a.on('error', () => {});
    const pair: Pair = { a, b: null, dead: false };
    pairs.add(pair);
    a.once('close', () => {
      pairs.delete(pair);
      pair.b?.destroy();
    });
    if (isCut) {
      pair.dead = true;
      a.pause();
      return;
    }
    const b = net.connect(target);
    pair.b = b;
    // The server ending a connection (a watch's timeout, say) is news that a cut path does not carry.
    b.on('error', () => {
      if (!isCut && !pair.dead) a.destroy();
    });
    b.once('close', () => {
      if (!isCut && !pair.dead) a.destroy();
    });
    a.on('data', (d) => {
      if (!isCut && !pair.dead) b.write(d);
    });
    b.on('data', (d) => {
      if (!isCut && !pair.dead) a.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      isCut = true;
    },
    restore(opts = {}) {
      isCut = false;
      for (const p of [...pairs]) {
        if (opts.endCut === false) p.dead = true;
        else {
          p.a.destroy();
          p.b?.destroy();
        }
      }
    },
    async close() {
      for (const p of [...pairs]) {
        p.a.destroy();
        p.b?.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}
