import { Logger, type LoggerService } from '@nestjs/common';
import { printAs } from '../common/print-as.js';
import { AZURE_POSTGRES_SCOPE } from '../entra-pg.constants.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import { USER_CLAIMS, userFromToken } from './entra-token-claims.js';
import type { PgSecret, PgSecretSource } from './pg-secret-source.interface.js';
import { SecretSourceError } from './secret-source.error.js';

export interface EntraTokenSourceOptions {
  /** Default `https://ossrdbms-aad.database.windows.net/.default` (Azure Database for PostgreSQL). */
  scope?: string;
  /**
   * The role to log in as; default: read from the token's claims (a user-assigned identity's name, a UPN).
   * Built by the module, it is the `user` option or PGUSER; built by hand for `source`, pass it here.
   */
  user?: string;
  /** Where "Logging in as …" is logged. */
  logger?: LoggerService;
}

/**
 * Microsoft Entra access tokens as passwords, from any `@azure/identity` TokenCredential. Built by
 * the module from the `credential` option (or the default credential, or ENTRA_CREDENTIAL).
 */
export class EntraTokenSource implements PgSecretSource {
  readonly label = 'Entra token';
  readonly description: string;
  private readonly scope: string;
  private readonly user: string | undefined;
  private readonly logger: LoggerService;
  private loggedUser: string | undefined;

  constructor(
    private readonly credential: EntraTokenCredential,
    options: EntraTokenSourceOptions = {},
  ) {
    this.scope = options.scope ?? AZURE_POSTGRES_SCOPE;
    this.user = options.user;
    this.logger = options.logger ?? new Logger('EntraPg');
    this.description = `${credential.constructor?.name ?? 'TokenCredential'} (scope ${this.scope})`;
  }

  async fetch(signal: AbortSignal): Promise<PgSecret> {
    const token = await this.credential.getToken(this.scope, { abortSignal: signal });
    if (!token || typeof token.token !== 'string' || token.token === '') {
      throw new SecretSourceError(`${this.description} returned no access token.`);
    }
    if (!Number.isFinite(token.expiresOnTimestamp)) {
      throw new SecretSourceError(`${this.description} returned a token without a valid expiresOnTimestamp.`);
    }
    return {
      user: this.user ?? this.userFrom(token.token),
      password: token.token,
      expiresAt: new Date(token.expiresOnTimestamp),
      refreshAfter: Number.isFinite(token.refreshAfterTimestamp) ? new Date(token.refreshAfterTimestamp!) : undefined,
    };
  }

  private userFrom(token: string): string {
    const found = userFromToken(token);
    if (!found.ok && found.reason === 'invalid-user') {
      throw new SecretSourceError(
        `The access token's ${found.claim} claim cannot be a PostgreSQL role name: ${found.problem}. ` +
          'Set the `user` option (or PGUSER) to the role name, or fix the identity\'s name.',
      );
    }
    if (!found.ok) {
      const why =
        found.reason === 'not-a-jwt'
          ? 'the access token is not a JWT, so no user name can be read from it'
          : `the access token has none of the claims ${USER_CLAIMS.join(', ')} (service principals and groups log in under a display name the token does not hold)`;
      throw new SecretSourceError(
        `Cannot tell which PostgreSQL role to log in as: ${why}. Set the \`user\` option (or PGUSER) to the role name.`,
      );
    }
    if (found.user !== this.loggedUser) {
      this.loggedUser = found.user;
      this.logger.log(`Logging in as "${found.user}" (from the token's ${found.claim} claim)`);
    }
    return found.user;
  }
}

// It holds a credential object that may hold a secret: print what it is, not what it has.
printAs(EntraTokenSource, (source) => ({ label: source.label, description: source.description }));
