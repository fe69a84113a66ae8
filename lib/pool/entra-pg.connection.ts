import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { printAs } from '../common/print-as.js';
import { EntraSecretSource } from '../credentials/entra-secret-source.js';
import type { SecretSource } from '../credentials/secret-source.interface.js';
import { StaticSecretSource } from '../credentials/static-secret-source.js';
import { VaultSecretSource } from '../credentials/vault-secret-source.js';
import { AZURE_POSTGRES_SCOPE } from '../entra-pg.constants.js';
import { EntraPgConfigError, EntraPgError, describeCause } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions } from '../interfaces/entra-pg-options.interface.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import type { MetricsHandle } from '../metrics/start-metrics.js';
import { CredentialRefresher, type CredentialSnapshot } from '../refresh/credential-refresher.js';
import { type EntraPgPassword, createPasswordProvider } from '../refresh/password-provider.js';
import { DEFAULT_REFRESH_SETTINGS } from '../refresh/refresh-schedule.js';
import { EntraPgPool } from './entra-pg.pool.js';
import { type ResolvedPoolConfig, resolvePoolConfig } from './pool-config.js';

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
    private readonly options: EntraPgModuleOptions,
    credential: EntraTokenCredential | null,
  ) {
    this.logger = new Logger(`EntraPg:${name}`);
    this.config = resolvePoolConfig(options, name);
    const source = this.createSource(credential);
    const settings = { ...DEFAULT_REFRESH_SETTINGS, ...definedOnly(options.refresh ?? {}) };
    // A static password is never read again; only a vault's secret is polled for rotation.
    if (source.kind === 'static') settings.intervalMs = undefined;
    this.refresher = new CredentialRefresher(
      source,
      settings,
      name,
      this.logger,
    );
    this.pool = new EntraPgPool({
      config: this.config,
      refresher: this.refresher,
      connectionName: name,
      logger: this.logger,
      drainTimeoutMs: options.drainTimeoutMs ?? 10_000,
      consumerEnd: options.consumerEnd ?? 'ignore',
    });
    this.password = createPasswordProvider(this.refresher);
  }

  /** Gets the first secret and runs `SELECT 1`, retrying, so bad credentials fail the boot. */
  async connectOnBoot(): Promise<void> {
    const attempts = (this.options.retryAttempts ?? 3) + 1;
    const delay = this.options.retryDelay ?? 1000;
    const target = `${this.config.host}:${this.config.port}/${this.config.database}`;
    for (let attempt = 1; ; attempt += 1) {
      try {
        // Start-up's own retries are its backoff: each attempt asks the source again.
        await this.refresher.fetchNow();
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

  private createSource(credential: EntraTokenCredential | null): SecretSource {
    const { options, name, config } = this;
    if (options.credentials) return new VaultSecretSource(options.credentials, config.user, name);
    if (options.password !== undefined) {
      if (!config.user) {
        throw new EntraPgConfigError(
          `EntraPgModule "${name}": a static password needs a user; set the \`user\` option or PGUSER.`,
          name,
        );
      }
      return new StaticSecretSource(options.password, config.user);
    }
    if (!credential || typeof credential.getToken !== 'function') {
      throw new EntraPgConfigError(
        `EntraPgModule "${name}": no TokenCredential is available; pass \`credential\`, \`credentials\` or \`password\`, ` +
          'or provide ENTRA_CREDENTIAL.',
        name,
      );
    }
    return new EntraSecretSource(credential, options.scope ?? AZURE_POSTGRES_SCOPE, config.user, name, this.logger);
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// The options hold the password or credential, the config may hold a TLS key: print the target only.
printAs(EntraPgConnection, (connection) => ({
  name: connection.name,
  host: connection.config.host,
  port: connection.config.port,
  database: connection.config.database,
}));
