import pg from 'pg';
import { connectionUrl } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep, viaFront } from '../support/harness.js';
import { TOKEN_LIFETIME_MS, serverWithLogin } from './orm-support.js';

/** Connects once with a URL, as a migration tool would, and says who it is. */
async function whoAmI(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ me: string }>('SELECT current_user AS me')).rows[0]!.me;
  } finally {
    await client.end();
  }
}

describe('connectionUrl(connection) for prisma migrate, drizzle-kit and psql', () => {
  const env = serverWithLogin();

  it('gives a URL with a token that is valid now, a fresh one once the last has expired, and logs neither', async () => {
    const { db, front } = env;
    const logs = LogCapture.install();
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const app = await bootPool(db, { ...viaFront(front), credential: authority });
    try {
      const first = await connectionUrl(app.connection);
      expect(new URL(first).searchParams.get('sslmode')).toBe('disable'); // the test server has no TLS
      expect(await whoAmI(first)).toBe(authority.role);
      await sleep(TOKEN_LIFETIME_MS + 200); // the first token has expired
      const second = await connectionUrl(app.connection);
      expect(new URL(second).password).not.toBe(new URL(first).password);
      expect(await whoAmI(second)).toBe(authority.role);
      await expect(whoAmI(first)).rejects.toThrow();
      for (const url of [first, second]) expect(logs.lines.map((line) => line.printed).join('\n')).not.toContain(decodeURIComponent(new URL(url).password));
      expect(new URL(await connectionUrl(app.connection, { sslmode: 'require' })).searchParams.get('sslmode')).toBe('require');
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
