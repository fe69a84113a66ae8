import { EntraPgShutdownError } from '../entra-pg.errors.js';

/** What every caller gets once shutdown has begun; it opens with pg-pool's words, which some code matches. */
export function shutdownError(connectionName: string): EntraPgShutdownError {
  return new EntraPgShutdownError(
    `Cannot use a pool after calling end on the pool: PostgreSQL pool "${connectionName}" is shutting down; it takes no new work.`,
    connectionName,
  );
}
