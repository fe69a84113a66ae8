import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type pg from 'pg';
import { getEntraPgConnectionToken } from '../common/entra-pg.utils.js';
import { DEFAULT_CONNECTION_NAME } from '../entra-pg.constants.js';
import { EntraPgConfigError, describeCause } from '../entra-pg.errors.js';
import type { EntraPgConnection, EntraPgConnectionStatus } from '../pool/entra-pg.connection.js';
import type { EntraPgHealthCheckOptions, EntraPgHealthDetails, EntraPgHealthResult } from './entra-pg-health.interface.js';

type TerminusApi = typeof import('@nestjs/terminus');
type HealthSession = ReturnType<InstanceType<TerminusApi['HealthIndicatorService']>['check']>;

/**
 * Terminus readiness indicator for an EntraPgModule connection: pings with `SELECT 1` under a
 * timeout and reports the token's time to expiry, the refresh streak and the pool's state.
 *
 * Down when the ping fails or times out, or when the token has expired and cannot be refreshed.
 * Up while a refresh is failing but the token is still valid, so one slow identity endpoint does
 * not take every replica out of rotation at once. Use it for readiness, never for liveness.
 */
@Injectable()
export class EntraPgHealthIndicator {
  private terminus: Promise<TerminusApi> | undefined;

  constructor(private readonly moduleRef: ModuleRef) {}

  async isHealthy<const Key extends string = 'database'>(
    key: Key = 'database' as Key,
    options: EntraPgHealthCheckOptions = {},
  ): Promise<EntraPgHealthResult<Key>> {
    const name = options.connection ?? DEFAULT_CONNECTION_NAME;
    const session = await this.session(key, name);
    const connection = this.connection(name);
    const problem = await this.problem(connection, options.timeoutMs ?? 1000);
    const details = toDetails(connection.status());
    const result = problem ? session.down({ ...details, message: problem }) : session.up({ ...details });
    return result as unknown as EntraPgHealthResult<Key>;
  }

  /** Why the connection is not ready, or undefined when it is. */
  private async problem(connection: EntraPgConnection, timeoutMs: number): Promise<string | undefined> {
    const before = connection.status();
    const now = Date.now();
    if (before.expiresAt !== undefined && before.expiresAt <= now) {
      if (before.refreshFailures > 0) {
        return `The ${before.label} expired and refreshing it has failed ${before.refreshFailures} time(s): ${before.lastError}`;
      }
      if (before.refreshingSince !== undefined) {
        const waited = Math.round((now - before.refreshingSince) / 1000);
        return `The ${before.label} expired and the refresh under way has not answered for ${waited} s`;
      }
    }
    try {
      await ping(connection.pool, timeoutMs);
      return undefined;
    } catch (error) {
      return describeCause(error);
    }
  }

  private connection(name: string): EntraPgConnection {
    try {
      return this.moduleRef.get<EntraPgConnection>(getEntraPgConnectionToken(name), { strict: false });
    } catch (cause) {
      throw new EntraPgConfigError(
        `EntraPgHealthIndicator: no EntraPgModule connection named "${name}" is registered.`,
        name,
        { cause },
      );
    }
  }

  private async session(key: string, connectionName: string): Promise<HealthSession> {
    this.terminus ??= loadTerminus(connectionName);
    const { HealthIndicatorService } = await this.terminus;
    let service: InstanceType<TerminusApi['HealthIndicatorService']>;
    try {
      service = this.moduleRef.get(HealthIndicatorService, { strict: false });
    } catch {
      // The app's health controller may not import TerminusModule where this module can see it.
      service = new HealthIndicatorService();
    }
    return service.check(key);
  }
}

/**
 * @nestjs/terminus is an optional peer, loaded on first use rather than detected at boot: the
 * specifier then resolves from this file in both builds (`import()` in ESM, `require()` in CommonJS),
 * which is where an app's install put it, nested or hoisted.
 */
async function loadTerminus(connectionName: string): Promise<TerminusApi> {
  try {
    return await import('@nestjs/terminus');
  } catch (cause) {
    throw new EntraPgConfigError(
      'EntraPgHealthIndicator needs @nestjs/terminus, which could not be loaded. Install it (npm i @nestjs/terminus) ' +
        'and import TerminusModule in the module of your health controller.',
      connectionName,
      { cause },
    );
  }
}

/**
 * `SELECT 1` on a client of its own, under a deadline. On timeout the client is destroyed rather
 * than returned, and a client that arrives after the deadline goes straight back, so a hung
 * ping never keeps a pool slot.
 */
async function ping(pool: pg.Pool, timeoutMs: number): Promise<void> {
  let expired = false;
  let client: pg.PoolClient | undefined;
  let released = false;
  const release = (error?: Error) => {
    if (!client || released) return;
    released = true;
    client.release(error);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      const error = new Error(`SELECT 1 did not answer within ${timeoutMs} ms`);
      release(error);
      reject(error);
    }, timeoutMs);
  });
  const attempt = (async () => {
    const acquired = await pool.connect();
    client = acquired;
    if (expired) {
      release();
      return;
    }
    try {
      await acquired.query('SELECT 1');
      release();
    } catch (error) {
      release(error as Error);
      throw error;
    }
  })();
  // The deadline may win; the attempt's own failure must then not go unhandled.
  attempt.catch(() => undefined);
  try {
    await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function toDetails(status: EntraPgConnectionStatus): EntraPgHealthDetails {
  const now = Date.now();
  const secondsUntil = (at: number | undefined) => (at === undefined ? null : Math.max(0, Math.round((at - now) / 1000)));
  return {
    tokenExpiresInSeconds: secondsUntil(status.expiresAt),
    tokenRefreshedAt: status.refreshedAt === undefined ? null : new Date(status.refreshedAt).toISOString(),
    nextRefreshInSeconds: secondsUntil(status.nextRefreshAt),
    refreshFailures: status.refreshFailures,
    lastError: status.lastError ?? null,
    user: status.user ?? null,
    pool: status.pool,
    rotations: status.rotations,
  };
}
