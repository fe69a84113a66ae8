import type { EntraPgConsumerEnd } from '../interfaces/entra-pg-options.interface.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import type { ResolvedPoolConfig } from '../pool/pool-types.js';
import type { RefreshSettings } from '../refresh/refresh-schedule.js';
import type { PgSecretSource } from '../sources/pg-secret-source.interface.js';

/**
 * The module's options after `resolveOptions()`: checked, libpq environment applied, defaults
 * filled in. Everything after bootstrap reads these, never the raw options.
 */
export interface ResolvedEntraPgOptions {
  connectionName: string;
  /** Where to connect and the pool's sizes and timeouts. */
  pool: ResolvedPoolConfig;
  refresh: RefreshSettings;
  /**
   * The secret source from `source` or `password`; undefined means Entra, from `credential`
   * (or the default credential, or ENTRA_CREDENTIAL when a test overrides it).
   */
  source: PgSecretSource | undefined;
  credential: EntraTokenCredential | undefined;
  scope: string;
  lazyConnect: boolean;
  /** Start-up attempts in all (the first one included). */
  bootAttempts: number;
  retryDelay: number;
  drainTimeoutMs: number;
  consumerEnd: EntraPgConsumerEnd;
  metrics: boolean;
  /** Why the secret may travel without verified TLS (the app opted out); logged once at bootstrap. */
  insecureTransport: string | undefined;
  /** Which setting turned TLS off ("ssl: false", "PGSSLMODE=disable"); undefined when TLS is on or loopback left it off. */
  sslOffBecause: string | undefined;
}
