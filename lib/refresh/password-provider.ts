import type { CredentialRefresher } from './credential-refresher.js';

/**
 * The connection's current password, for code that opens its own connections (TypeORM's own pool,
 * Sequelize's `beforeConnect`, knex): served from the cache, one shared fetch when none is
 * valid, never a network call while the cached secret is valid.
 */
export interface EntraPgPassword {
  (): Promise<string>;
  /**
   * The knex / MikroORM 6 form: knex calls `expirationChecker()` before each new connection and
   * asks again once it returns true (the secret expired or was replaced by a refresh).
   */
  withExpiry(): Promise<{ password: string; expirationChecker: () => boolean }>;
}

export function createPasswordProvider(refresher: CredentialRefresher): EntraPgPassword {
  // After shutdown get() rejects: the cached secret is not handed out either.
  const current = async (): Promise<string> => (await refresher.get()).password;
  return Object.assign(current, {
    async withExpiry() {
      const password = await current();
      return { password, expirationChecker: () => refresher.peek()?.password !== password };
    },
  });
}
