import { EntraPgShutdownError } from '../entra-pg.errors.js';

/** What every caller gets once shutdown has begun. */
export function shutdownError(connectionName: string): EntraPgShutdownError {
  return new EntraPgShutdownError(`PostgreSQL pool "${connectionName}" is shutting down; it takes no new work.`, connectionName);
}
