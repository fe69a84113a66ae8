import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { printAs } from '../common/print-as.js';
import type { Diagnosis } from '../diagnostics/check.js';
import { type DiagnoseDependencies, diagnose } from '../diagnostics/diagnose.js';
import { EntraPgError, describeCause } from '../entra-pg.errors.js';
import type { MetricsHandle } from '../metrics/start-metrics.js';
import type { ResolvedEntraPgOptions } from '../options/resolved-options.interface.js';
import { EntraPgPool } from '../pool/entra-pg.pool.js';
import type { ResolvedPoolConfig } from '../pool/pool-types.js';
import { CredentialRefresher, type CredentialSnapshot } from '../refresh/credential-refresher.js';
import { type EntraPgPassword, createPasswordProvider } from '../refresh/password-provider.js';
import { readSecrets } from '../refresh/read-secrets.js';
import type { PgSecretSource } from '../sources/pg-secret-source.interface.js';

/** Everything the health indicator reports about one connection; no secret in it. */
export interface EntraPgConnectionStatus extends CredentialSnapshot {
  connectionName: string;
  pool: { total: number; idle: number; waiting: number; max: number };
  rotations: number;
  ended: boolean;
}

/**
 * One named connection: its secret source, refresher and pool, their start-up check and their
 * shutdown. Nest calls `onApplicationShutdown` after HTTP has drained.
 */
export class EntraPgConnection implements OnApplicationShutdown {
  readonly pool: EntraPgPool;
  readonly refresher: CredentialRefresher;
  readonly config: ResolvedPoolConfig;
  readonly password: EntraPgPassword;
  /** OpenTelemetry metrics, when a MeterProvider is registered (lib/metrics); stopped at shutdown. */
  metrics: MetricsHandle | undefined;
  private readonly logger: Logger;

  constructor(
    readonly name: string,
    private readonly options: ResolvedEntraPgOptions,
    /** The `source` option, or the Entra source on ENTRA_CREDENTIAL (PG_SECRET_SOURCE). */
    readonly source: PgSecretSource,
    /** The connection whose refresher this one shares (`secretFrom`): one token refresh for both. */
    secretFrom?: EntraPgConnection,
  ) {
    this.logger = new Logger(`EntraPg:${name}`);
    this.config = options.pool;
    // Once per connection: the options are resolved once, at bootstrap.
    if (options.insecureTransport) this.logger.warn(`Insecure transport: ${options.insecureTransport}`);
    this.refresher = secretFrom
      ? secretFrom.refresher.share()
      : new CredentialRefresher(readSecrets(this.source, this.config.user, name), options.refresh, name, this.logger);
    this.pool = new EntraPgPool({
      config: this.config,
      refresher: this.refresher,
      connectionName: name,
      logger: this.logger,
      drainTimeoutMs: options.drainTimeoutMs,
      consumerEnd: options.consumerEnd,
    });
    this.password = createPasswordProvider(this.refresher);
  }

  /** Gets the first secret and runs `SELECT 1`, retrying, so bad credentials fail the boot. */
  async connectOnBoot(): Promise<void> {
    const attempts = this.options.bootAttempts;
    const delay = this.options.retryDelay;
    const target = `${this.config.host}:${this.config.port}/${this.config.database}`;
    for (let attempt = 1; ; attempt += 1) {
      try {
        // Start-up's own retries are its backoff: each attempt asks the source again (a shared
        // secret already fetched by its owner is used as it is: one token request for both).
        if (attempt > 1 || !this.refresher.peek()) await this.refresher.fetchNow();
        await this.pool.query('SELECT 1');
        const user = this.refresher.snapshot().user ?? this.config.user;
        this.logger.log(`Connected to ${target} as "${user}"`);
        return;
      } catch (error) {
        if (attempt >= attempts) {
          await this.pool.shutdown(0);
          throw new EntraPgError(
            `Could not connect to PostgreSQL at ${target} (connection "${this.name}") after ${attempts} attempt(s): ` +
              `${describeCause(error)}`,
            this.name,
            { cause: error },
          );
        }
        this.logger.warn(`Unable to connect to ${target} (attempt ${attempt}/${attempts}): ${describeCause(error)}; retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * Runs the doctor's checks with this connection's own options and secret source (one extra
   * login, outside the pool). Safe to call while the app runs; never shows a secret.
   */
  diagnose(deps: Omit<DiagnoseDependencies, 'source'> = {}): Promise<Diagnosis> {
    return diagnose(this.options, { ...deps, source: this.source });
  }

  status(): EntraPgConnectionStatus {
    const pool = this.pool;
    return {
      ...this.refresher.snapshot(),
      connectionName: this.name,
      pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: this.config.max },
      rotations: pool.rotations,
      ended: pool.ended,
    };
  }

  onApplicationShutdown(): Promise<void> {
    this.metrics?.stop();
    return this.pool.shutdown();
  }
}

// The options hold the password or credential, the config may hold a TLS key: print the target only.
printAs(EntraPgConnection, (connection) => ({
  name: connection.name,
  host: connection.config.host,
  port: connection.config.port,
  database: connection.config.database,
}));
