import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { EntraAccessToken, EntraGetTokenOptions, EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import { type EntraIdentityKind, entraIdentityClaims } from './identity-claims.js';
import { createTestToken } from './jwt.js';
import type { LocalLoginRegistry } from './login-registry.js';

export interface LocalTokenAuthorityOptions {
  /** A superuser (or CREATEROLE) connection to the test server. */
  admin: pg.PoolConfig;
  /** The role whose password each token becomes. */
  role: string;
  /** Lifetime of each minted token. Default 60 s. */
  lifetimeMs?: number;
  /** Claims of each token. Default `{ upn: role }`, or those of `identity`. */
  claims?: Record<string, unknown>;
  /**
   * Mint the claim set Entra gives this kind of identity (entraIdentityClaims()), named after the
   * role: a system- or user-assigned managed identity, a service principal, a workload identity or a user.
   */
  identity?: EntraIdentityKind;
  /**
   * Hand out the current token again while it is younger than this, as the managed-identity
   * service does with its token cache. Default 0: every getToken() mints a new token.
   */
  cacheForMs?: number;
  /**
   * Register each token with a LocalEntraLogin front instead of setting it as the role's
   * password: every unexpired token then works at once, as on Azure, and `revoke()` refuses the
   * tokens this authority issued. Without it (the default), the role has one rotating password,
   * which models a vault rotating a secret.
   */
  login?: LocalLoginRegistry;
  /**
   * Most tokens kept in `tokens`; expired ones are forgotten first, then the oldest. Default 100,
   * so a long-running app (the sample) does not grow the list forever.
   */
  keepTokens?: number;
}

/** Raised while the authority simulates an outage; named like @azure/identity's error. */
export class LocalCredentialUnavailableError extends Error {
  override readonly name = 'CredentialUnavailableError';
}

/**
 * A TokenCredential for tests and local runs that makes token expiry real: every `getToken()`
 * mints a JWT-shaped token and sets it as the role's password with
 * `ALTER ROLE … PASSWORD … VALID UNTIL <expiry>`. After expiry new logins fail while established
 * connections live on, exactly as with Entra tokens on Azure.
 *
 * Two differences from Entra. A role has one password, so minting a token retires every earlier
 * token for new logins, even one that has not expired: code under test must use the newest token
 * (a correct pool does). And PostgreSQL reads the role's password when a login's handshake
 * begins, so a token minted from inside pg's `password` callback is applied too late for the
 * very login that asked for it; on Azure, Entra validates the token itself and that login would
 * succeed. `cacheForMs` makes repeated requests return the current token, as the identity
 * service's cache does.
 *
 * With `login` (a LocalEntraLogin), neither difference applies: see there.
 *
 * Switches: `outage` (getToken rejects), `latencyMs` (getToken is slow), `revoke()` (the current
 * token stops working for new logins); counters: `requests`, `issued`.
 */
export class LocalTokenAuthority implements EntraTokenCredential {
  /** getToken() calls, including failed ones. */
  requests = 0;
  /** Tokens minted and applied to the role. */
  issued = 0;
  /** The tokens minted, oldest first, so tests can check that none reached a log; bounded by `keepTokens`. */
  readonly tokens: string[] = [];
  /** When true, getToken() rejects with a CredentialUnavailableError. */
  outage = false;
  /** Delay before each getToken() answers, in ms. */
  latencyMs = 0;
  lifetimeMs: number;
  claims: Record<string, unknown>;
  cacheForMs: number;
  readonly role: string;
  private readonly admin: pg.Pool;
  private chain: Promise<unknown> = Promise.resolve();
  private current: { token: EntraAccessToken; issuedAt: number } | undefined;
  private closed = false;
  private readonly login: LocalLoginRegistry | undefined;
  private readonly issuer = randomUUID();
  /** Expiry of each entry of `tokens`, at the same index. */
  private readonly expiries: number[] = [];
  private readonly keepTokens: number;

  constructor(options: LocalTokenAuthorityOptions) {
    this.role = options.role;
    this.login = options.login;
    this.lifetimeMs = options.lifetimeMs ?? 60_000;
    this.claims = options.claims ?? (options.identity ? entraIdentityClaims(options.identity, options.role) : { upn: options.role });
    this.cacheForMs = options.cacheForMs ?? 0;
    this.keepTokens = Math.max(1, options.keepTokens ?? 100);
    this.admin = new pg.Pool({ ...options.admin, max: 2, allowExitOnIdle: true });
    this.admin.on('error', () => undefined);
  }

  // Any scope is accepted: the authority stands in for one resource, the test server.
  async getToken(_scopes?: string | string[], _options?: EntraGetTokenOptions): Promise<EntraAccessToken> {
    this.requests += 1;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    if (this.outage) throw new LocalCredentialUnavailableError('LocalTokenAuthority: identity endpoint unavailable (simulated outage)');
    if (this.closed) throw new LocalCredentialUnavailableError('LocalTokenAuthority: closed');
    const cached = this.current;
    if (cached && Date.now() - cached.issuedAt < this.cacheForMs) return { ...cached.token };
    // Applied in order, so the role's password is always the newest token handed out.
    const minting = this.chain.then(() => this.mint());
    this.chain = minting.catch(() => undefined);
    return minting;
  }

  /**
   * Makes the current token useless for new logins (as if revoked or rotated elsewhere); with
   * `login`, every token this authority issued.
   */
  async revoke(): Promise<void> {
    this.current = undefined;
    if (this.login) return this.login.revokeIssuedBy(this.issuer);
    await this.setPassword(`revoked-${Math.random().toString(36).slice(2)}`, null);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await this.admin.end();
  }

  private async mint(): Promise<EntraAccessToken> {
    // Millisecond precision (VALID UNTIL keeps microseconds), so a short test token lives exactly
    // lifetimeMs; the JWT's exp claim is that instant rounded down to whole seconds.
    const expiresOnTimestamp = Date.now() + this.lifetimeMs;
    const token = createTestToken(this.claims, new Date(expiresOnTimestamp));
    if (this.login) await this.login.register(token, { user: this.role, expiresOnTimestamp, issuer: this.issuer });
    else await this.setPassword(token, new Date(expiresOnTimestamp));
    this.issued += 1;
    this.remember(token, expiresOnTimestamp);
    const issued: EntraAccessToken = { token, expiresOnTimestamp, tokenType: 'Bearer' };
    this.current = { token: issued, issuedAt: Date.now() };
    return { ...issued };
  }

  private remember(token: string, expiresAt: number): void {
    this.tokens.push(token);
    this.expiries.push(expiresAt);
    if (this.tokens.length <= this.keepTokens) return;
    const now = Date.now();
    for (let i = 0; i < this.tokens.length && this.tokens.length > this.keepTokens; ) {
      if (this.expiries[i]! <= now) {
        this.tokens.splice(i, 1);
        this.expiries.splice(i, 1);
      } else {
        i += 1;
      }
    }
    // Still too many: all of them valid; the oldest go.
    const excess = this.tokens.length - this.keepTokens;
    if (excess > 0) {
      this.tokens.splice(0, excess);
      this.expiries.splice(0, excess);
    }
  }

  private async setPassword(password: string, validUntil: Date | null): Promise<void> {
    const until = validUntil ? pg.escapeLiteral(validUntil.toISOString()) : "'infinity'";
    await this.admin.query(
      `ALTER ROLE ${pg.escapeIdentifier(this.role)} WITH LOGIN PASSWORD ${pg.escapeLiteral(password)} VALID UNTIL ${until}`,
    );
  }
}
