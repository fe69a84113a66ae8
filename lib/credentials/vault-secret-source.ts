import { printAs } from '../common/print-as.js';
import { EntraPgCredentialError } from '../entra-pg.errors.js';
import type { PgCredentialsSource } from '../interfaces/credentials-source.interface.js';
import { roleNameProblem } from './role-name.js';
import type { FetchedSecret, SecretSource } from './secret-source.interface.js';

/** A rotating non-Entra secret; a change of user makes the pool rotate. */
export class VaultSecretSource implements SecretSource {
  readonly kind = 'vault';
  readonly label = 'vault secret';
  readonly description: string;

  constructor(
    private readonly source: PgCredentialsSource,
    private readonly explicitUser: string | undefined,
    private readonly connectionName: string,
  ) {
    this.description = `credentials source ${source.constructor?.name ?? 'object'}`;
  }

  async fetch(signal: AbortSignal): Promise<FetchedSecret> {
    const got: unknown = await this.source.getCredentials({ abortSignal: signal });
    const fail = (what: string) =>
      new EntraPgCredentialError(
        `${this.description} ${what}; getCredentials() must resolve to { password: string, user?: string, expiresAt?: Date }.`,
        this.connectionName,
      );
    if (got === null || typeof got !== 'object') throw fail('returned no credentials');
    const { user, password, expiresAt } = got as Record<string, unknown>;
    if (typeof password !== 'string' || password === '') throw fail('returned no password');
    if (user !== undefined && (typeof user !== 'string' || roleNameProblem(user) !== undefined)) {
      throw fail(`returned an invalid user (${typeof user === 'string' ? roleNameProblem(user) : 'not a string'})`);
    }
    if (expiresAt !== undefined && (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()))) {
      throw fail('returned an invalid expiresAt');
    }
    const role = (user as string | undefined) ?? this.explicitUser;
    if (role === undefined) throw fail('returned no user and no `user` option or PGUSER is set');
    return {
      user: role,
      password,
      expiresAt: expiresAt?.getTime(),
      refreshAfter: undefined,
    };
  }
}

// It holds a secret or a credential object that may hold one: print what it is, not what it has.
printAs(VaultSecretSource, (source) => ({ kind: source.kind, description: source.description }));
