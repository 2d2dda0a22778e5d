// Upstream login and TLS against a real PostgreSQL (a server of its own from test/support/pg.ts, with TLS and
// per-role authentication), plus the SCRAM client's refusals.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Backend } from './codes.ts';
import { FrameReader } from './frames.ts';
import {
  AUTH_CLEARTEXT,
  AUTH_OK,
  authenticationSASL,
  noticeResponse,
  authenticationSASLData,
  backendKeyData,
  query,
  RFQ_IDLE,
  parameterStatus,
} from './messages.ts';
import { md5Password, loginUpstream, PgError, ScramClient } from './auth.ts';
import { readCommandComplete, readErrorFields } from './read.ts';
import { upgradeUpstreamTls } from './tls.ts';
import { adminQuery, startPostgres, type PgServer } from '../../test/support/pg.ts';

let pg: PgServer;
const NON_ASCII = 'pässwörd-ü-€'; // NFC: SASLprep leaves it unchanged, so "use as is" matches PostgreSQL

before(async () => {
  pg = await startPostgres({
    tls: true,
    hostAuth: 'scram-sha-256',
    hba: ['host all md5user 127.0.0.1/32 md5', 'host all pwuser 127.0.0.1/32 password'],
  });
  const sql = (text: string): Promise<unknown> => adminQuery(pg, text);
  await sql(`SET password_encryption = 'md5'; CREATE ROLE md5user LOGIN PASSWORD 'md5-secret';`);
  await sql(`CREATE ROLE scramuser LOGIN PASSWORD 'scram-secret';`);
  await sql(`CREATE ROLE pwuser LOGIN PASSWORD 'pw-secret';`);
  await sql(`CREATE ROLE unicode LOGIN PASSWORD '${NON_ASCII}';`);
});
after(async () => {
  await pg?.stop();
});

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(pg.port, pg.host);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Runs one simple query on a logged-in socket and returns the single text value of the single row. */
async function scalar(sock: net.Socket | tls.TLSSocket, sql: string, leftover: Buffer): Promise<string> {
  const reader = new FrameReader(1 << 20);
  if (leftover.length > 0) reader.push(leftover);
  return new Promise((resolve, reject) => {
    let value: string | null = null;
    const onData = (chunk: Buffer): void => {
      reader.push(chunk);
      for (let f = reader.next(); f !== null; f = reader.next()) {
        if (f.type === Backend.DataRow) {
          const len = f.buf.readInt32BE(f.start + 7);
          value = f.buf.toString('utf8', f.start + 11, f.start + 11 + len);
        } else if (f.type === Backend.CommandComplete) {
          readCommandComplete(f.buf, f.start, f.end);
        } else if (f.type === Backend.ErrorResponse) {
          reject(new Error(readErrorFields(f.buf, f.start, f.end).get('M')));
        } else if (f.type === Backend.ReadyForQuery) {
          sock.off('data', onData);
          if (value === null) reject(new Error('no row'));
          else resolve(value);
        }
      }
    };
    sock.on('data', onData);
    sock.resume();
    sock.write(query(sql));
  });
}

describe('loginUpstream against PostgreSQL 15', () => {
  for (const [user, password, method] of [
    ['md5user', 'md5-secret', 'md5'],
    ['scramuser', 'scram-secret', 'SCRAM-SHA-256'],
    ['pwuser', 'pw-secret', 'cleartext'],
    ['unicode', NON_ASCII, 'SCRAM-SHA-256 with a non-ASCII password'],
  ] as const) {
    test(`logs in with ${method} and leaves a usable session`, async () => {
      const sock = await connect();
      try {
        const r = await loginUpstream(sock, {
          user,
          password,
          database: 'postgres',
          params: { application_name: 'airlock-test' },
        });
        assert.ok(r.processId > 0);
        assert.equal(r.secretKey.length, 4);
        assert.match(r.parameters.get('server_version') ?? '', /^15\./);
        assert.equal(r.parameters.get('application_name'), 'airlock-test');
        assert.equal(r.leftover.length, 0);
        assert.equal(
          await scalar(sock, "SELECT current_user || ' ' || pg_backend_pid()", r.leftover),
          `${user} ${r.processId}`,
        );
      } finally {
        sock.destroy();
      }
    });
  }

  for (const [user, method] of [
    ['md5user', 'md5'],
    ['scramuser', 'SCRAM'],
    ['pwuser', 'cleartext'],
  ] as const) {
    test(`a wrong password is refused with SQLSTATE 28P01 (${method}) and the socket destroyed`, async () => {
      const sock = await connect();
      await assert.rejects(loginUpstream(sock, { user, password: 'wrong', database: 'postgres' }), (err: unknown) => {
        assert.ok(err instanceof PgError);
        assert.equal(err.code, '28P01');
        assert.match(err.message, new RegExp(`upstream login as "${user}".*password authentication failed.*28P01`));
        return true;
      });
      assert.equal(sock.destroyed, true);
    });
  }

  test('an unknown database is refused with its SQLSTATE (3D000)', async () => {
    const sock = await connect();
    await assert.rejects(
      loginUpstream(sock, { user: 'scramuser', password: 'scram-secret', database: 'nope' }),
      (err: unknown) => err instanceof PgError && err.code === '3D000',
    );
  });

  test('params cannot override the user or database', async () => {
    const sock = await connect();
    await assert.rejects(
      loginUpstream(sock, {
        user: 'scramuser',
        password: 'scram-secret',
        database: 'postgres',
        params: { user: 'postgres' },
      }),
      /must not set user or database/,
    );
    assert.equal(sock.destroyed, true);
  });
});

describe('upgradeUpstreamTls against PostgreSQL 15', () => {
  test('require: encrypted, certificate not verified (self-signed accepted)', async () => {
    const sock = await upgradeUpstreamTls(await connect(), 'require', pg.host);
    try {
      assert.ok(sock instanceof tls.TLSSocket);
      assert.equal(sock.authorized, false); // require does not verify, like libpq sslmode=require
      const r = await loginUpstream(sock, { user: 'scramuser', password: 'scram-secret', database: 'postgres' });
      assert.equal(
        await scalar(sock, 'SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()', r.leftover),
        'true',
      );
    } finally {
      sock.destroy();
    }
  });

  test('verify-full: the right CA and a matching name (DNS or IP SAN) pass', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const sock = await upgradeUpstreamTls(await connect(), 'verify-full', host, pg.certPem!);
      assert.ok(sock instanceof tls.TLSSocket && sock.authorized);
      const r = await loginUpstream(sock, { user: 'md5user', password: 'md5-secret', database: 'postgres' });
      assert.equal(
        await scalar(sock, 'SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()', r.leftover),
        'true',
      );
      sock.destroy();
    }
  });

  test('verify-full: an unknown CA is refused', async () => {
    const raw = await connect();
    await assert.rejects(
      upgradeUpstreamTls(raw, 'verify-full', 'localhost'),
      /TLS to localhost \(mode verify-full\) failed: self-signed certificate/,
    );
    assert.equal(raw.destroyed, true);
  });

  test('verify-full: a name the certificate does not carry is refused', async () => {
    await assert.rejects(
      upgradeUpstreamTls(await connect(), 'verify-full', 'db.example.com', pg.certPem!),
      /Hostname\/IP does not match certificate's altnames/,
    );
  });

  test('disable returns the plain socket untouched', async () => {
    const raw = await connect();
    assert.equal(await upgradeUpstreamTls(raw, 'disable', pg.host), raw);
    const r = await loginUpstream(raw, { user: 'scramuser', password: 'scram-secret', database: 'postgres' });
    assert.equal(
      await scalar(
        raw,
        "SELECT coalesce((SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()), 'none')",
        r.leftover,
      ),
      'false',
    );
    raw.destroy();
  });
});

/** A one-connection server that answers with `script` whenever it receives bytes; for misbehaving peers. */
async function scripted(
  onBytes: (sock: net.Socket, data: Buffer, n: number) => void,
): Promise<{ port: number; close(): void }> {
  const srv = net.createServer((s) => {
    let n = 0;
    s.on('data', (d) => onBytes(s, d, n++));
    s.on('error', () => {});
  });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}
function connectTo(port: number): Promise<net.Socket> {
  return new Promise((res, rej) => {
    const s = net.connect(port, '127.0.0.1', () => res(s));
    s.once('error', rej);
  });
}

describe('refusals a real server cannot provoke', () => {
  test("TLS: 'N' to SSLRequest fails require and verify-full (no fallback to plain text)", async () => {
    const srv = await scripted((s) => s.write('N'));
    try {
      for (const mode of ['require', 'verify-full'] as const) {
        await assert.rejects(
          upgradeUpstreamTls(await connectTo(srv.port), mode, '127.0.0.1'),
          /server does not support TLS/,
        );
      }
    } finally {
      srv.close();
    }
  });

  test('TLS: bytes after S and before the handshake are refused (CVE-2021-23222)', async () => {
    const srv = await scripted((s) => s.write(Buffer.concat([Buffer.from('S'), query('injected')])));
    try {
      await assert.rejects(
        upgradeUpstreamTls(await connectTo(srv.port), 'require', '127.0.0.1'),
        /unencrypted data after accepting SSLRequest/,
      );
    } finally {
      srv.close();
    }
  });

  test('SCRAM: AuthenticationOk before the server proved itself is refused', async () => {
    const srv = await scripted((s, _d, n) => {
      if (n === 0) s.write(authenticationSASL(['SCRAM-SHA-256']));
      else
        s.write(
          Buffer.concat([
            AUTH_OK,
            parameterStatus('server_version', '15.0'),
            backendKeyData(1, Buffer.alloc(4)),
            RFQ_IDLE,
          ]),
        );
    });
    try {
      await assert.rejects(
        loginUpstream(await connectTo(srv.port), { user: 'u', password: 'p', database: 'd' }),
        /AuthenticationOk before completing SCRAM/,
      );
    } finally {
      srv.close();
    }
  });

  test('SCRAM: a server that does not know the verifier fails finish()', async () => {
    const srv = await scripted((s, d, n) => {
      if (n === 0) {
        s.write(authenticationSASL(['SCRAM-SHA-256']));
        return;
      }
      if (n === 1) {
        const first = d.toString('latin1');
        const nonce = /r=([^,\0]+)/.exec(first)![1]!;
        s.write(
          authenticationSASLData(
            11,
            Buffer.from(`r=${nonce}server,s=${Buffer.from('salt').toString('base64')},i=4096`),
          ),
        );
        return;
      }
      s.write(authenticationSASLData(12, Buffer.from(`v=${Buffer.alloc(32, 7).toString('base64')}`)));
    });
    try {
      await assert.rejects(
        loginUpstream(await connectTo(srv.port), { user: 'u', password: 'p', database: 'd' }),
        /SCRAM server signature does not match/,
      );
    } finally {
      srv.close();
    }
  });

  test('bytes after ReadyForQuery come back as leftover, and the socket is left paused', async () => {
    const extra = Buffer.concat([
      noticeResponse({ severity: 'NOTICE', code: '00000', message: 'later' }),
      query('partial').subarray(0, 6),
    ]);
    const srv = await scripted((s) =>
      s.write(
        Buffer.concat([
          AUTH_CLEARTEXT,
          AUTH_OK,
          parameterStatus('server_version', '15.0'),
          backendKeyData(77, Buffer.from([1, 2, 3, 4])),
          RFQ_IDLE,
          extra,
        ]),
      ),
    );
    try {
      const sock = await connectTo(srv.port);
      const r = await loginUpstream(sock, { user: 'u', password: 'p', database: 'd' });
      assert.deepEqual([r.processId, [...r.parameters], r.leftover], [77, [['server_version', '15.0']], extra]);
      assert.equal(sock.isPaused(), true);
      sock.destroy();
    } finally {
      srv.close();
    }
  });

  test('GSSAPI and other methods are refused by name', async () => {
    const srv = await scripted((s) => {
      const b = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 7]);
      s.write(b);
    });
    try {
      await assert.rejects(
        loginUpstream(await connectTo(srv.port), { user: 'u', password: 'p', database: 'd' }),
        /authentication method 7 \(GSSAPI\/SSPI\/Kerberos\)/,
      );
    } finally {
      srv.close();
    }
  });

  test('a server that closes mid-login rejects instead of hanging', async () => {
    const srv = await scripted((s) => s.end());
    try {
      await assert.rejects(
        loginUpstream(await connectTo(srv.port), { user: 'u', password: 'p', database: 'd' }),
        /the server closed the connection/,
      );
    } finally {
      srv.close();
    }
  });

  test('a silent server hits the login timeout', async () => {
    const srv = await scripted(() => {});
    try {
      await assert.rejects(
        loginUpstream(await connectTo(srv.port), { user: 'u', password: 'p', database: 'd', timeoutMs: 50 }),
        /timed out after 50 ms/,
      );
    } finally {
      srv.close();
    }
  });
});

describe('ScramClient', () => {
  function serverFirstFor(c: ScramClient, tail: string): Buffer {
    const init = c.initialResponse();
    const nonce = /r=([^,\0]+)$/.exec(init.subarray(5 + 'SCRAM-SHA-256'.length + 1 + 4).toString())![1]!;
    return Buffer.from(tail.replace('NONCE', nonce));
  }
  test('the initial response is n,,n=,r=<24 base64 chars> (18 random bytes; user name left to the startup packet)', () => {
    const init = new ScramClient('alice', 'x').initialResponse();
    const body = init.subarray(5);
    assert.equal(body.toString('latin1', 0, 14), 'SCRAM-SHA-256\0');
    assert.equal(body.readInt32BE(14), body.length - 18);
    assert.match(body.toString('latin1', 18), /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
  });
  for (const [name, tail, err] of [
    ['a nonce that does not extend ours', 'r=other,s=c2FsdA==,i=4096', /does not extend/],
    ['a nonce equal to ours', 'r=NONCE,s=c2FsdA==,i=4096', /does not extend/],
    ['an iteration count above the bound', 'r=NONCEx,s=c2FsdA==,i=2000000', /iteration count/],
    ['a zero iteration count', 'r=NONCEx,s=c2FsdA==,i=0', /iteration count/],
    ['a salt that is not base64', 'r=NONCEx,s=*,i=4096', /salt/],
    ['a mandatory extension', 'm=ext,r=NONCEx,s=c2FsdA==,i=4096', /extension/],
    ['garbage', 'hello', /malformed/],
  ] as const) {
    test(`server-first with ${name} is refused`, () => {
      const c = new ScramClient('u', 'p');
      assert.throws(() => c.continue(serverFirstFor(c, tail)), err);
    });
  }
  test('server-final e=… is reported', () => {
    const c = new ScramClient('u', 'p');
    c.continue(serverFirstFor(c, 'r=NONCEx,s=c2FsdA==,i=4096'));
    assert.throws(() => c.finish(Buffer.from('e=invalid-proof')), /failed on the server: invalid-proof/);
  });
  test('out-of-order calls throw', () => {
    const c = new ScramClient('u', 'p');
    assert.throws(() => c.continue(Buffer.from('r=x,s=c2FsdA==,i=1')), /unexpected server-first/);
    assert.throws(() => c.finish(Buffer.from('v=x')), /unexpected server-final/);
  });
});

test('md5Password follows "md5" + md5hex(md5hex(password + user) + salt)', () => {
  // The real-server md5 login above is the end-to-end check; this pins the formula on a second code path.
  const salt = Buffer.from([1, 2, 3, 4]);
  const inner = Buffer.from(md5hex(Buffer.from('secretalice')));
  assert.equal(md5Password('alice', 'secret', salt), 'md5' + md5hex(Buffer.concat([inner, salt])));
  assert.match(md5Password('alice', 'secret', salt), /^md5[0-9a-f]{32}$/);
});
function md5hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}
