/** One secret as a source hands it out: the password of the next logins, and whose it is. */
export interface PgSecret {
  /**
   * The role to log in as. When it differs from the previous secret's, the pool rotates: new
   * logins go to a new pg.Pool and the old one drains (alternating-user rotation). Default: the
   * `user` option or PGUSER.
   */
  user?: string;
  password: string;
  /** When new logins with this password stop working; the source is asked again before then. */
  expiresAt?: Date;
  /** When the issuer suggests asking again (Entra's refresh_in); asking earlier gets the same secret. */
  refreshAfter?: Date;
}

/**
 * Where the pool's password comes from: an Entra credential, AWS RDS IAM, AWS Secrets Manager, a
 * vault of your own. The pool calls `fetch` ahead of expiry (or every `refresh.intervalMs` when a
 * secret has no expiry), once more after PostgreSQL refuses a login, and never on the query path.
 * Calls never overlap.
 */
export interface PgSecretSource {
  /** What one secret is called in logs, errors and health details: "Entra token", "RDS IAM token". */
  readonly label: string;
  /** Where secrets come from, for logs and errors (never a secret): "ManagedIdentityCredential (scope …)". Default: the label. */
  readonly description?: string;
  /** True for a secret that never changes (a fixed password): it is read once and never polled. */
  readonly neverRotates?: boolean;
  /**
   * True when the server accepts this secret only over TLS (AWS RDS IAM tokens): a connection whose
   * `ssl` is off fails at bootstrap with a message, instead of at every login.
   */
  readonly requiresTls?: boolean;
  /**
   * Gets the current secret. `signal` aborts when the pool stops waiting (`refresh.timeoutMs` or
   * shutdown): abandon the request. A rejection counts as a failed refresh and backs off.
   */
  fetch(signal: AbortSignal): Promise<PgSecret>;
}
