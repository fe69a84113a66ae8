import { EntraPgCredentialError } from '../entra-pg.errors.js';
import type { PgSecret, PgSecretSource } from '../sources/pg-secret-source.interface.js';
import { roleNameProblem } from '../sources/role-name.js';
import { SecretSourceError } from '../sources/secret-source.error.js';
import type { FetchedSecret, SecretReader } from './fetched-secret.js';

/**
 * Puts a PgSecretSource behind the refresher: every answer is checked here, whichever source gave
 * it (a role name that could rewrite pg's startup packet, an invalid date, a missing password),
 * and the role falls back to the `user` option or PGUSER.
 */
export function readSecrets(source: PgSecretSource, defaultUser: string | undefined, connectionName: string): SecretReader {
  const description = source.description ?? source.label;
  const fail = (what: string) =>
    new EntraPgCredentialError(
      `${description} ${what}; a secret source must resolve to { password: string, user?: string, expiresAt?: Date, refreshAfter?: Date }.`,
      connectionName,
    );
  const time = (value: unknown, name: string): number | undefined => {
    if (value === undefined) return undefined;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw fail(`returned an invalid ${name} (not a valid Date)`);
    return value.getTime();
  };
  const check = (got: unknown): FetchedSecret => {
    if (got === null || typeof got !== 'object') throw fail('returned no secret');
    const { user, password, expiresAt, refreshAfter } = got as Record<keyof PgSecret, unknown>;
    if (typeof password !== 'string' || password === '') throw fail('returned no password');
    if (user !== undefined && (typeof user !== 'string' || roleNameProblem(user) !== undefined)) {
      throw fail(`returned an invalid user (${typeof user === 'string' ? roleNameProblem(user) : 'not a string'})`);
    }
    const role = (user as string | undefined) ?? defaultUser;
    if (role === undefined) throw fail('returned no user, and neither the `user` option nor PGUSER is set');
    return { user: role, password, expiresAt: time(expiresAt, 'expiresAt'), refreshAfter: time(refreshAfter, 'refreshAfter') };
  };
  return {
    label: source.label,
    description,
    async fetch(signal) {
      let got: unknown;
      try {
        got = await source.fetch(signal);
      } catch (error) {
        // A built-in source's own wording, shown as it is under the connection's name.
        if (error instanceof SecretSourceError) throw new EntraPgCredentialError(error.message, connectionName, { cause: error.cause });
        throw error;
      }
      return check(got);
    },
  };
}
