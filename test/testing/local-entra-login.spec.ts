import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';
import { LocalEntraLogin, type LocalTokenAuthority, ManagedIdentityEmulator } from '../../lib/testing/index.js';
import { bootPool, loginThrough, waitFor } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Sends raw bytes to the front and collects everything it answers until it closes the socket. */
async function rawExchange(port: number, bytes: Buffer): Promise<{ reply: Buffer; closed: boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.write(bytes);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.destroy();
  return { reply: Buffer.concat(chunks), closed };
}

/** The fields of the first ErrorResponse in `reply`, keyed by field tag. */
function errorFields(reply: Buffer): Record<string, string> {
  const at = reply.indexOf('E');
  if (at < 0) return {};
  const length = reply.readInt32BE(at + 1);
  const fields: Record<string, string> = {};
  for (const part of reply.subarray(at + 5, at + 1 + length).toString('utf8').split('\0')) if (part) fields[part[0]!] = part.slice(1);
  return fields;
}

function startup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.alloc(1)]);
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length + 4);
  return Buffer.concat([length, body]);
}

describe('LocalEntraLogin', () => {
  let db: TestPostgres;
  let front: LocalEntraLogin;
  let roles = 0;
  const authorities: LocalTokenAuthority[] = [];

  const newRole = async () => {
    roles += 1;
    const role = `front_${roles}`;
    await db.createRole(role);
    return role;
  };
  const authorityFor = (role: string, lifetimeMs = 60_000) => {
    const authority = front.authority({ role, lifetimeMs });
    authorities.push(authority);
    return authority;
  };
  const clientConfig = (user: string, password: string | (() => Promise<string>), target = front): pg.ClientConfig => ({
    host: target.host,
    port: target.port,
    user,
    password,
    database: 'postgres',
  });
  /** 'ok', or the SQLSTATE and message a login through the front failed with. */
  const login = async (user: string, password: string, target = front) => {
    const client = new pg.Client(clientConfig(user, password, target));
    try {
      await client.connect();
      await client.query('SELECT 1');
      return 'ok';
    } catch (error) {
      return `${(error as { code?: string }).code}: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  beforeAll(async () => {
    db = await startPostgres();
    front = await LocalEntraLogin.start({ admin: db.admin });
  });
  afterAll(async () => {
    await Promise.all(authorities.map((a) => a.close()));
    await front.close();
    await db.stop();
  });

  it('lets two pools on one role log in at once with different valid tokens (plain pg.Pool and nestjs-entra-pg)', async () => {
    const role = await newRole();
    const [a, b, c] = [authorityFor(role), authorityFor(role), authorityFor(role)];
    const poolA = new pg.Pool({ ...clientConfig(role, async () => (await a.getToken()).token), max: 8 });
    const poolB = new pg.Pool({ ...clientConfig(role, async () => (await b.getToken()).token), max: 8 });
    const app = await bootPool(db, { host: front.host, port: front.port, credential: c, pool: { max: 8 } });
    try {
      // A burst: every connection of the two plain pools logs in with a token minted for it,
      // interleaved with the other pool's tokens, and the library pool with its cached token.
      const burst = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          [poolA, poolB, app.pool][i % 3]!.query<{ u: string; n: number }>('SELECT current_user AS u, pg_sleep(0.05), 1 AS n'),
        ),
      );
      expect(burst.every((r) => r.rows[0]!.u === role && r.rows[0]!.n === 1)).toBe(true);
      expect(a.issued).toBeGreaterThanOrEqual(5);
      expect(b.issued).toBeGreaterThanOrEqual(5);
      // The oldest token of each authority still logs in: minting did not retire it.
      expect(await login(role, a.tokens[0]!)).toBe('ok');
      expect(await login(role, b.tokens[0]!)).toBe('ok');
      expect(await login(role, c.tokens[0]!)).toBe('ok');
      expect(await db.backends(role)).toBeGreaterThanOrEqual(6);
    } finally {
      await app.close();
      await poolA.end();
      await poolB.end();
    }
  });

  it('refuses expired, revoked, foreign-user and unknown tokens with 28P01 in Azure\'s words', async () => {
    const [role, other] = [await newRole(), await newRole()];
    const shortLived = authorityFor(role, 300);
    const revoked = authorityFor(role);
    const foreign = authorityFor(other);
    const expired = await shortLived.getToken();
    const [gone, stillGood] = [await revoked.getToken(), await authorityFor(role).getToken()];
    const theirs = await foreign.getToken();
    const refusalsBefore = front.refusals;

    await waitFor(() => Date.now() > expired.expiresOnTimestamp);
    expect(await login(role, expired.token)).toBe('28P01: The access token has expired. Please acquire a new token and retry.');
    expect(await login(role, gone.token)).toBe('ok');
    await revoked.revoke();
    expect(await login(role, gone.token)).toBe(`28P01: password authentication failed for user "${role}"`);
    expect(await login(role, stillGood.token)).toBe('ok'); // another authority's tokens are not revoked
    expect(await login(role, theirs.token)).toBe(`28P01: password authentication failed for user "${role}"`);
    expect(await login(other, theirs.token)).toBe('ok');
    expect(await login(role, 'not-a-token')).toBe(`28P01: password authentication failed for user "${role}"`);
    expect(front.refusals - refusalsBefore).toBe(4);
  });

  it('logs in with a password its verify hook vouches for, under the same user and expiry checks; a hook that throws refuses', async () => {
    const role = await newRole();
    const grant = (user: string, inMs: number) => ({ user, expiresOnTimestamp: Date.now() + inMs, issuer: 'hook' });
    const verifying = await LocalEntraLogin.start({
      admin: db.admin,
      verify: async (password, user) => {
        if (password === 'hook-throws') throw new Error('verifier broke');
        if (password === 'signed-expired') return grant(user, -1);
        if (password === 'signed-for-other') return grant('someone_else', 60_000);
        return password === 'signed-good' ? grant(user, 60_000) : undefined;
      },
    });
    try {
      const refused = `28P01: password authentication failed for user "${role}"`;
      expect(await login(role, 'signed-good', verifying)).toBe('ok');
      expect(await login(role, 'signed-expired', verifying)).toBe('28P01: The access token has expired. Please acquire a new token and retry.');
      expect(await login(role, 'signed-for-other', verifying)).toBe(refused);
      expect(await login(role, 'hook-throws', verifying)).toBe(refused);
      expect(await login(role, 'unknown', verifying)).toBe(refused);
      // Registered tokens still work next to the hook.
      const registered = verifying.authority({ role, lifetimeMs: 60_000 });
      expect(await login(role, (await registered.getToken()).token, verifying)).toBe('ok');
      await registered.close();
      expect([verifying.logins, verifying.refusals]).toEqual([2, 4]);
    } finally {
      await verifying.close();
    }
  });

  it('keeps an established session after its token expires, and revocation switches and counters keep working', async () => {
    const role = await newRole();
    const authority = authorityFor(role, 600);
    const token = await authority.getToken();
    const session = new pg.Client(clientConfig(role, token.token));
    await session.connect();
    try {
      await waitFor(() => Date.now() > token.expiresOnTimestamp + 50);
      expect(await login(role, token.token)).toMatch(/^28P01: The access token has expired/);
      expect((await session.query<{ n: number }>('SELECT 2 AS n')).rows[0]!.n).toBe(2);
    } finally {
      await session.end();
    }
    authority.outage = true;
    await expect(authority.getToken()).rejects.toThrow(/simulated outage/);
    authority.outage = false;
    await authority.revoke();
    authority.cacheForMs = 60_000;
    authority.lifetimeMs = 60_000;
    const fresh = await authority.getToken();
    expect((await authority.getToken()).token).toBe(fresh.token);
    expect([authority.requests, authority.issued]).toEqual([4, 2]);
  });

  it('serves the managed-identity emulator unchanged: its tokens log in through the front', async () => {
    const role = await newRole();
    const authority = authorityFor(role);
    const emulator = await ManagedIdentityEmulator.start({ authority });
    try {
      const url = `${emulator.endpoint}?api-version=2019-08-01&resource=${encodeURIComponent('https://ossrdbms-aad.database.windows.net')}`;
      const tokens = await Promise.all(
        [1, 2].map(async () => ((await (await fetch(url, { headers: { 'x-identity-header': emulator.identityHeader } })).json()) as { access_token: string }).access_token),
      );
      expect(tokens[0]).not.toBe(tokens[1]);
      expect(await Promise.all(tokens.map((t) => login(role, t)))).toEqual(['ok', 'ok']);
    } finally {
      await emulator.close();
    }
  });

  it('answers malformed startup packets with an ErrorResponse and a close, and keeps serving', async () => {
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(0x7fffffff);
    const short = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0]);
    const badVersion = Buffer.from([0, 0, 0, 8, 0, 9, 0, 0]);
    const cases: Array<[string, Buffer, string]> = [
      ['HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), '08P01'],
      ['huge length', huge, '08P01'],
      ['short length', short, '08P01'],
      ['protocol 9.0', badVersion, '0A000'],
      ['no terminator', Buffer.concat([Buffer.from([0, 0, 0, 17, 0, 3, 0, 0]), Buffer.from('user\0bob\0x')]), '08P01'],
      ['no user', startup({ database: 'postgres' }), '28000'],
      ['not a password reply', Buffer.concat([startup({ user: 'x' }), Buffer.from([0x51, 0, 0, 0, 5, 0])]), '08P01'],
      ['huge password', Buffer.concat([startup({ user: 'x' }), Buffer.from([0x70, 0x7f, 0, 0, 0])]), '08P01'],
    ];
    // All at once, as a scanner would.
    const replies = await Promise.all(cases.map(([, bytes]) => rawExchange(front.port, bytes)));
    replies.forEach(({ reply, closed }, i) => {
      const fields = errorFields(reply);
      expect({ name: cases[i]![0], closed, severity: fields.S, code: fields.C }).toEqual({ name: cases[i]![0], closed: true, severity: 'FATAL', code: cases[i]![2] });
    });
    // A client that says nothing is cut off after the handshake timeout.
    const strict = await LocalEntraLogin.start({ admin: db.admin, handshakeTimeoutMs: 200 });
    try {
      const silent = await rawExchange(strict.port, Buffer.alloc(0));
      expect([silent.closed, errorFields(silent.reply).M]).toEqual([true, 'canceling authentication due to timeout']);
      // 200 random byte strings at once, some after a valid startup: every one is answered or cut off, and closed.
      const fuzz = Array.from({ length: 200 }, (_, i) => {
        const noise = randomBytes(1 + (i % 64));
        return i % 2 ? noise : Buffer.concat([startup({ user: 'fuzz' }), noise]);
      });
      const outcomes = await Promise.all(fuzz.map((bytes) => rawExchange(strict.port, bytes)));
      expect(outcomes.filter((o) => !o.closed)).toEqual([]);
      expect(outcomes.filter((o) => errorFields(o.reply).S === 'FATAL').length).toBeGreaterThan(150);
    } finally {
      await strict.close();
    }
    const role = await newRole();
    expect(await login(role, (await authorityFor(role).getToken()).token)).toBe('ok');
  });

  it('leaves no server session behind for clients that hang up while being logged in', async () => {
    const role = await newRole();
    const token = (await authorityFor(role).getToken()).token;
    const password = Buffer.from(`p\0\0\0\0${token}\0`);
    password.writeInt32BE(password.length - 1, 1);
    const loginsBefore = front.logins;
    // Startup and password in one write, then gone while the front logs in to the server.
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const socket = connect({ host: front.host, port: front.port });
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(Buffer.concat([startup({ user: role, database: 'postgres' }), password]));
        // The front asks for the password, finds it already sent, and starts the server login.
        await new Promise((resolve) => socket.once('data', resolve));
        socket.destroy();
      }),
    );
    await waitFor(async () => (await db.backends(role)) === 0 && front.sessions === 0);
    expect(front.logins).toBe(loginsBefore); // none of them was counted as relayed
    expect(await login(role, token)).toBe('ok');
  });

  it('passes a protocol 3.2 client through to the server, with its long cancel key', async () => {
    const role = await newRole();
    const token = (await authorityFor(role).getToken()).token;
    const hello = startup({ user: role, database: 'postgres' });
    hello.writeInt32BE(0x00030002, 4);
    const password = Buffer.from(`p\0\0\0\0${token}\0`);
    password.writeInt32BE(password.length - 1, 1);
    const socket = connect({ host: front.host, port: front.port });
    const received: Buffer[] = [];
    const types = () => {
      const all = Buffer.concat(received);
      const found: Array<{ type: string; length: number }> = [];
      for (let at = 0; at + 5 <= all.length; at += 1 + all.readInt32BE(at + 1)) found.push({ type: String.fromCharCode(all[at]!), length: all.readInt32BE(at + 1) });
      return found;
    };
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    try {
      socket.write(Buffer.concat([hello, password]));
      await waitFor(() => types().some((m) => m.type === 'Z'));
      // 3.2 keys are longer than 3.0's four bytes (PostgreSQL 18 sends 32).
      const all = Buffer.concat(received);
      const at = all.indexOf('K');
      const key = all.subarray(at + 5, at + 1 + all.readInt32BE(at + 1));
      expect(key.length).toBeGreaterThan(4 + 4);
      received.length = 0;
      socket.write(Buffer.from('Q\0\0\0\x0dSELECT 1\0', 'latin1'));
      await waitFor(() => types().some((m) => m.type === 'Z'));
      expect(types().map((m) => m.type)).toEqual(['T', 'D', 'C', 'Z']);
      // A cancel with the long key reaches the server.
      received.length = 0;
      socket.write(Buffer.from('Q\0\0\0\x18SELECT pg_sleep(30)\0', 'latin1'));
      await waitFor(async () => (await db.adminPool.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND state = $2', [role, 'active'])).rows.length === 1);
      const cancel = Buffer.concat([Buffer.alloc(8), key]);
      cancel.writeInt32BE(cancel.length, 0);
      cancel.writeInt32BE(80877102, 4);
      await rawExchange(front.port, cancel);
      await waitFor(() => types().some((m) => m.type === 'Z'));
      expect(errorFields(Buffer.concat(received)).C).toBe('57014');
    } finally {
      socket.destroy();
    }
  });

  it('relays a cancel request to the session\'s backend', async () => {
    const role = await newRole();
    const client = new pg.Client(clientConfig(role, (await authorityFor(role).getToken()).token));
    await client.connect();
    try {
      const slow = client.query('SELECT pg_sleep(30)');
      await waitFor(async () => {
        const { rows } = await db.adminPool.query('SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND state = $2', [role, 'active']);
        return rows.length === 1;
      });
      const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
      const cancel = Buffer.alloc(16);
      cancel.writeInt32BE(16, 0);
      cancel.writeInt32BE(80877102, 4);
      cancel.writeInt32BE(processID, 8);
      cancel.writeInt32BE(secretKey, 12);
      await rawExchange(front.port, cancel);
      await expect(slow).rejects.toMatchObject({ code: '57014' });
      expect((await client.query<{ n: number }>('SELECT 3 AS n')).rows[0]!.n).toBe(3);
    } finally {
      await client.end();
    }
  });

  it('close() closes the listener and every relayed socket, on both sides', async () => {
    const local = await LocalEntraLogin.start({ admin: db.admin });
    const role = await newRole();
    const authority = local.authority({ role, lifetimeMs: 60_000 });
    const clients = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const client = new pg.Client({ host: local.host, port: local.port, user: role, password: (await authority.getToken()).token, database: 'postgres' });
        await client.connect();
        const ended = new Promise<'end'>((resolve) => client.once('end', () => resolve('end')));
        client.on('error', () => undefined);
        return { client, ended };
      }),
    );
    // And one half-way through its login.
    const pending = connect({ host: local.host, port: local.port });
    pending.on('error', () => undefined);
    pending.resume(); // flowing, so the close is seen
    const pendingClosed = new Promise<'close'>((resolve) => pending.once('close', () => resolve('close')));
    pending.write(startup({ user: role }));
    try {
      await waitFor(async () => (await db.backends(role)) === 5);
      expect(local.sessions).toBe(5);
      await local.close();
      expect(await Promise.all([...clients.map((c) => c.ended), pendingClosed])).toEqual([...clients.map(() => 'end'), 'close']);
      await waitFor(async () => (await db.backends(role)) === 0);
      expect(local.sessions).toBe(0);
      expect(await new Promise((resolve) => connect({ host: local.host, port: local.port }).once('error', (e: NodeJS.ErrnoException) => resolve(e.code)))).toBe('ECONNREFUSED');
    } finally {
      await authority.close();
      pending.destroy();
    }
  });

  describe('with TLS', () => {
    let secure: LocalEntraLogin;
    beforeAll(async () => {
      secure = await LocalEntraLogin.start({ admin: db.admin, tls: true });
    });
    afterAll(() => secure.close());

    it('upgrades to verified TLS on its self-signed certificate, for pg and for nestjs-entra-pg', async () => {
      const role = await newRole();
      const authority = secure.authority({ role, lifetimeMs: 60_000 });
      const ssl = { ca: secure.certificate!, servername: secure.servername };
      await expect(loginThrough(secure, role, (await authority.getToken()).token, ssl)).resolves.toEqual({ user: role, encrypted: true, authorized: true });
      const untrusting = new pg.Client({ host: secure.host, port: secure.port, user: role, password: (await authority.getToken()).token, database: 'postgres', ssl: true });
      await expect(untrusting.connect()).rejects.toThrow(/self-signed certificate/);
      const app = await bootPool(db, { host: secure.host, port: secure.port, credential: authority, ssl });
      try {
        expect((await app.pool.query<{ n: number }>('SELECT 4 AS n')).rows[0]!.n).toBe(4);
      } finally {
        await app.close();
        await authority.close();
      }
    });

    it('cuts off a client that stalls after asking for TLS', async () => {
      const strict = await LocalEntraLogin.start({ admin: db.admin, tls: true, handshakeTimeoutMs: 200 });
      try {
        const { reply, closed } = await rawExchange(strict.port, Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
        expect([reply.toString('latin1', 0, 1), closed]).toEqual(['S', true]);
      } finally {
        await strict.close();
      }
    });

    it('refuses plaintext bytes sent before the TLS handshake', async () => {
      const ssl = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
      const { reply, closed } = await rawExchange(secure.port, Buffer.concat([ssl, startup({ user: 'x' })]));
      expect([closed, errorFields(reply).C]).toEqual([true, '08P01']);
    });
  });
});
