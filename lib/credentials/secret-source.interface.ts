/** One secret as the pool uses it: the password of the next logins, and who it belongs to. */
export interface FetchedSecret {
  user: string | undefined;
  password: string;
  /** Epoch ms after which new logins with this password fail; undefined when it does not expire. */
  expiresAt: number | undefined;
  /** Epoch ms at which the issuer suggests refreshing (Entra's refresh_in). */
  refreshAfter: number | undefined;
}

/** Where secrets come from: an Entra credential, a vault, or a fixed password. */
export interface SecretSource {
  readonly kind: 'entra' | 'vault' | 'static';
  /** What one secret is called in logs and messages: "Entra token", "vault secret", "static password". */
  readonly label: string;
  /** Names the source in errors and logs (never the secret). */
  readonly description: string;
  /** `signal` fires when the refresher stops waiting (attempt timeout or shutdown): abandon the request. */
  fetch(signal: AbortSignal): Promise<FetchedSecret>;
}
