/** What a non-Entra secret source (a vault, a secrets manager) hands out. */
export interface PgCredentials {
  /** The role to log in as; when it changes, the pool rotates to a new pg.Pool. */
  user?: string;
  password: string;
  /** When new logins with this password stop working; the source is asked again before then. */
  expiresAt?: Date;
}

/** A rotating secret that is not an Entra token: AWS Secrets Manager, Key Vault secrets, Vault. */
export interface PgCredentialsSource {
  /** `abortSignal` fires when the pool stops waiting (refresh.timeoutMs or shutdown): abandon the request. */
  getCredentials(options?: { abortSignal?: AbortSignal }): Promise<PgCredentials>;
}
