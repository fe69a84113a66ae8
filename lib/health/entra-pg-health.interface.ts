/** Options of one readiness check. */
export interface EntraPgHealthCheckOptions {
  /** How long the `SELECT 1` ping may take. Default 1000 ms. */
  timeoutMs?: number;
  /** Which connection to check. Default: the default connection. */
  connection?: string;
}

/** What the indicator reports; `null` where a value has no meaning for the secret source. */
export interface EntraPgHealthDetails {
  /** The secret source's label ("Entra token", "RDS IAM token"); null when the connection is unknown. */
  source: string | null;
  /** Seconds until the current token stops working for new logins. */
  tokenExpiresInSeconds: number | null;
  /** When the current secret was fetched (ISO 8601). */
  tokenRefreshedAt: string | null;
  /** Seconds until the next scheduled refresh (or retry). */
  nextRefreshInSeconds: number | null;
  /** Failed refreshes in the current streak; 0 when the last refresh worked. */
  refreshFailures: number;
  /** The last refresh error, as a message (never a secret). */
  lastError: string | null;
  user: string | null;
  pool: { total: number; idle: number; waiting: number; max: number };
  /** Times the pool moved to a new pg.Pool (identity change or rotate()). */
  rotations: number;
  /** Why the check is down; absent when up. */
  message?: string;
}

/** Shaped like Terminus's HealthIndicatorResult, so `HealthCheckService.check()` takes it as is. */
export type EntraPgHealthResult<Key extends string = string> = Record<Key, { status: 'up' | 'down' } & EntraPgHealthDetails>;
