import { AZURE_POSTGRES_SCOPE } from '../entra-pg.constants.js';
import type { EntraPgConsumerEnd } from '../interfaces/entra-pg-options.interface.js';
import type { RefreshSettings } from '../refresh/refresh-schedule.js';

/** Every default of the module's options, in one place; the README's configuration table lists the same. */
export const ENTRA_PG_DEFAULTS = {
  port: 5432,
  database: 'postgres',
  scope: AZURE_POSTGRES_SCOPE,
  pool: {
    max: 10,
    min: 0,
    idleTimeoutMillis: 10_000,
    // 0 waits forever, as pg does.
    connectionTimeoutMillis: 0,
    maxLifetimeSeconds: 0,
  },
  consumerEnd: 'ignore' as EntraPgConsumerEnd,
  lazyConnect: false,
  retryAttempts: 3,
  retryDelay: 1_000,
  drainTimeoutMs: 10_000,
  allowInsecureTransport: false,
  metrics: true,
  // Google's Cloud SQL connector re-resolves every 30 s; a failover that repoints DNS is followed
  // within about this long (at once after a connection error).
  dnsRecheckMs: 30_000,
  // TCP keepalive probes on idle connections. Azure Load Balancer and SNAT drop a flow idle for
  // 4 minutes (their default) without telling either end; a probe after 60 s of silence keeps
  // the flow alive well inside that, as it does for AWS NAT gateways (350 s).
  keepAlive: true,
  keepAliveInitialDelayMillis: 60_000,
  // libpq's defaults: any server will do, hosts tried in the order given.
  targetSessionAttrs: 'any',
  loadBalanceHosts: 'disable',
} as const;

export const DEFAULT_REFRESH_SETTINGS: Readonly<RefreshSettings> = {
  marginMs: 5 * 60_000,
  retryBaseMs: 1_000,
  retryMaxMs: 30_000,
  jitterRatio: 0.1,
  forcedRefreshMinIntervalMs: 1_000,
  intervalMs: 5 * 60_000,
  timeoutMs: 30_000,
};

/**
 * How a login that failed for a reason that passes (server restarting, refused, reset, too many
 * connections) is retried: capped exponential backoff with jitter, until the caller's deadline.
 * `deadlineMs` is that deadline when pool.connectionTimeoutMillis is 0 (pg's "wait forever"): a
 * caller riding through an outage gives up after 30 s rather than never.
 */
export const LOGIN_RETRY_DEFAULTS = {
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  deadlineMs: 30_000,
} as const;
