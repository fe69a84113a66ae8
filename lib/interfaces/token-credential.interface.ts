/**
 * The shape of `@azure/core-auth`'s AccessToken and TokenCredential, declared here so that the
 * Entra path's types do not force `@azure/identity` on apps that only use vault or static secrets.
 * Any `@azure/identity` credential satisfies it.
 */
export interface EntraAccessToken {
  token: string;
  /** Expiry, in milliseconds since the epoch. */
  expiresOnTimestamp: number;
  /** When the issuer suggests refreshing, in milliseconds since the epoch. */
  refreshAfterTimestamp?: number;
  tokenType?: 'Bearer' | 'pop';
}

export interface EntraGetTokenOptions {
  abortSignal?: AbortSignal;
}

export interface EntraTokenCredential {
  getToken(scopes: string | string[], options?: EntraGetTokenOptions): Promise<EntraAccessToken | null>;
}
