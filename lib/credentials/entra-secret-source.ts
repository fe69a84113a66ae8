import type { Logger } from '@nestjs/common';
import { printAs } from '../common/print-as.js';
import { EntraPgCredentialError } from '../entra-pg.errors.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import type { FetchedSecret, SecretSource } from './secret-source.interface.js';
import { USER_CLAIMS, userFromToken } from './token-claims.js';

/** Entra access tokens as passwords; the role name is the explicit user or comes from the token. */
export class EntraSecretSource implements SecretSource {
  readonly kind = 'entra';
  readonly label = 'Entra token';
  readonly description: string;
  private loggedUser: string | undefined;

  constructor(
    private readonly credential: EntraTokenCredential,
    private readonly scope: string,
    private readonly explicitUser: string | undefined,
    private readonly connectionName: string,
    private readonly logger: Logger,
  ) {
    this.description = `${credential.constructor?.name ?? 'TokenCredential'} (scope ${scope})`;
  }

  async fetch(signal: AbortSignal): Promise<FetchedSecret> {
    const token = await this.credential.getToken(this.scope, { abortSignal: signal });
    if (!token || typeof token.token !== 'string' || token.token === '') {
      throw new EntraPgCredentialError(`${this.description} returned no access token.`, this.connectionName);
    }
    if (!Number.isFinite(token.expiresOnTimestamp)) {
      throw new EntraPgCredentialError(
        `${this.description} returned a token without a valid expiresOnTimestamp.`,
        this.connectionName,
      );
    }
    return {
      user: this.explicitUser ?? this.userFrom(token.token),
      password: token.token,
      expiresAt: token.expiresOnTimestamp,
      refreshAfter: Number.isFinite(token.refreshAfterTimestamp) ? token.refreshAfterTimestamp : undefined,
    };
  }

  private userFrom(token: string): string {
    const found = userFromToken(token);
    if (!found.ok && found.reason === 'invalid-user') {
      throw new EntraPgCredentialError(
        `The access token's ${found.claim} claim cannot be a PostgreSQL role name: ${found.problem}. ` +
          'Set the `user` option (or PGUSER) to the role name, or fix the identity\'s name.',
        this.connectionName,
      );
    }
    if (!found.ok) {
      const why =
        found.reason === 'not-a-jwt'
          ? 'the access token is not a JWT, so no user name can be read from it'
          : `the access token has none of the claims ${USER_CLAIMS.join(', ')} (service principals and groups log in under a display name the token does not hold)`;
      throw new EntraPgCredentialError(
        `Cannot tell which PostgreSQL role to log in as: ${why}. Set the \`user\` option (or PGUSER) to the role name.`,
        this.connectionName,
      );
    }
    if (found.user !== this.loggedUser) {
      this.loggedUser = found.user;
      this.logger.log(`Logging in as "${found.user}" (from the token's ${found.claim} claim)`);
    }
    return found.user;
  }
}

// It holds a secret or a credential object that may hold one: print what it is, not what it has.
printAs(EntraSecretSource, (source) => ({ kind: source.kind, description: source.description }));
