import { load, sleep } from '../support/harness.js';
import { LocalEntraLogin } from '../../lib/testing/index.js';
import { LogCapture } from '../support/log-capture.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Token lifetime for the ORM tests: short, so one test sees several. */
export const TOKEN_LIFETIME_MS = 2_000;

/** Pool settings that churn connections: each lives about a second, so logins keep happening. */
export const CHURNED_POOL = { max: 3, maxLifetimeSeconds: 1 };

/** Runs `work` on 4 workers for a little more than three token lifetimes. */
export function acrossThreeLifetimes(work: () => Promise<unknown>): ReturnType<typeof load> {
  return load(3 * TOKEN_LIFETIME_MS + 700, 4, work);
}

/**
 * The role's server-side backends once they are gone, or what is left after 3 s: a closed pool
 * resolves before the server (and the login front's upstream) has noticed its sockets closing.
 */
export async function backendsLeft(db: TestPostgres, role: string): Promise<number> {
  const deadline = Date.now() + 3_000;
  let left = await db.backends(role);
  while (left > 0 && Date.now() < deadline) {
    await sleep(50);
    left = await db.backends(role);
  }
  return left;
}

export interface ServerWithLogin {
  db: TestPostgres;
  front: LocalEntraLogin;
}

/**
 * One PostgreSQL server and one LocalEntraLogin front (every unexpired token stays valid, as on
 * Azure) for a describe block; read the fields inside tests.
 */
export function serverWithLogin(): ServerWithLogin {
  const env = {} as ServerWithLogin;
  beforeAll(async () => {
    env.db = await startPostgres();
    env.front = await LocalEntraLogin.start({ admin: env.db.admin });
    LogCapture.install();
  });
  afterAll(async () => {
    await env.front?.close();
    await env.db?.stop();
  });
  return env;
}
