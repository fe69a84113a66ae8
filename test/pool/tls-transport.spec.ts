import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { EntraPgModule, type EntraPgModuleOptions } from '../../lib/index.js';
import { FakePostgres, resolveEverythingToLoopback } from '../support/fake-postgres.js';
import { LogCapture } from '../support/log-capture.js';

const SECRET = 'static-secret-Zq8vX3';
// Host names only: an IP literal is not resolved, so the client would really try to reach it.

/**
 * Through the public API, against a fake server that every name resolves to: does the first packet
 * ask for TLS, and does the secret ever arrive in the clear?
 */
describe('TLS on the wire (fake server on 127.0.0.1, every name resolved to it)', () => {
  let fake: FakePostgres;
  let undoDns: () => void;
  let logs: LogCapture;
  const savedSslMode = process.env.PGSSLMODE;

  beforeAll(async () => {
    fake = await FakePostgres.start();
    undoDns = resolveEverythingToLoopback();
  });
  afterAll(async () => {
    undoDns();
    await fake.close();
  });
  afterEach(() => {
    if (savedSslMode === undefined) delete process.env.PGSSLMODE;
    else process.env.PGSSLMODE = savedSslMode;
    fake.connections.length = 0;
  });

  async function boot(host: string, options: EntraPgModuleOptions = {}, sslMode?: string): Promise<Error | undefined> {
    if (sslMode === undefined) delete process.env.PGSSLMODE;
    else process.env.PGSSLMODE = sslMode;
    logs = LogCapture.install();
    const builder = Test.createTestingModule({
      imports: [
        EntraPgModule.forRoot({ host, port: fake.port, user: 'app', password: SECRET, retryAttempts: 0, ...options }),
      ],
    }).setLogger(logs);
    try {
      const module = await builder.compile();
      await module.close();
      return undefined;
    } catch (error) {
      return error as Error;
    }
  }

  const remoteHosts = [
    'srv.postgres.database.azure.com',
    'srv.postgres.database.azure.com.',
    'srv.postgres.database.usgovcloudapi.net',
    'srv.postgres.database.chinacloudapi.cn',
    'srv.privatelink.postgres.database.azure.com',
    'db.contoso.internal',
  ];

  it.each(remoteHosts)('asks for TLS first and never sends the secret in the clear to %s', async (host) => {
    const error = await boot(host);
    expect(error?.message).toMatch(/does not support SSL/);
    expect(fake.connections.length).toBeGreaterThan(0);
    expect(fake.connections.every((c) => c.sslRequest)).toBe(true);
    expect(fake.receivedText()).not.toContain(SECRET);
  });

  it.each(['require', 'REQUIRE', ' Verify-Full ', 'verify-ca', 'prefer'])(
    'PGSSLMODE=%j still means verified TLS to a remote host',
    async (mode) => {
      const error = await boot('db.contoso.internal', {}, mode);
      expect(error?.message).toMatch(/does not support SSL/);
      expect(fake.connections.every((c) => c.sslRequest)).toBe(true);
      expect(fake.receivedText()).not.toContain(SECRET);
    },
  );

  it.each(['disable', 'allow', 'ALLOW', 'no-verify'])(
    'PGSSLMODE=%j to a remote host fails the boot before any connection, saying how to opt out',
    async (mode) => {
      const error = await boot('srv.postgres.database.azure.com', {}, mode);
      expect(error?.message).toMatch(/Refusing to send the PostgreSQL secret/);
      expect(error?.message).toMatch(/allowInsecureTransport: true/);
      expect(fake.connections).toHaveLength(0);
    },
  );

  it('an unknown PGSSLMODE fails the boot naming PGSSLMODE', async () => {
    const error = await boot('localhost', {}, 'requre');
    expect(error?.message).toMatch(/Unknown PGSSLMODE "requre"/);
    expect(fake.connections).toHaveLength(0);
  });

  it('ssl: false to a remote host is refused without the opt-out', async () => {
    const error = await boot('db.contoso.internal', { ssl: false });
    expect(error?.message).toMatch(/Refusing to send the PostgreSQL secret to db\.contoso\.internal over plaintext/);
    expect(fake.connections).toHaveLength(0);
  });

  it('ssl: false with allowInsecureTransport sends plaintext, as asked, and warns once', async () => {
    await boot('db.contoso.internal', { ssl: false, allowInsecureTransport: true });
    expect(fake.connections[0]?.sslRequest).toBe(false);
    expect(fake.receivedText()).toContain(SECRET);
    expect(logs.matching(/Insecure transport/)).toHaveLength(1);
    expect(logs.matching(/Insecure transport/)[0]?.level).toBe('warn');
  });

  it.each(['localhost', '127.0.0.1'])('loopback %s works without TLS and without a warning', async (host) => {
    await boot(host);
    expect(fake.connections[0]?.sslRequest).toBe(false);
    expect(logs.matching(/Insecure transport/)).toHaveLength(0);
  });
});
