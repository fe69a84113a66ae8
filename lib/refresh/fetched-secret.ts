/** One secret as the refresher and the pool use it: checked, with times as epoch milliseconds. */
export interface FetchedSecret {
  user: string | undefined;
  password: string;
  /** Epoch ms after which new logins with this password fail; undefined when it does not expire. */
  expiresAt: number | undefined;
  /** Epoch ms at which the issuer suggests refreshing (Entra's refresh_in). */
  refreshAfter: number | undefined;
}

/**
 * What the refresher reads secrets from: a PgSecretSource behind `readSecrets()`, which checks
 * each answer; tests drive the refresher with their own on an injected clock.
 */
export interface SecretReader {
  /** What one secret is called in logs and messages: "Entra token", "RDS IAM token". */
  readonly label: string;
  /** Names the source in errors and logs (never the secret). */
  readonly description: string;
  /** `signal` fires when the refresher stops waiting (attempt timeout or shutdown): abandon the request. */
  fetch(signal: AbortSignal): Promise<FetchedSecret>;
}
