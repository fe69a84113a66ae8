import { type DynamicModule, Logger, Module, type Provider } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { assertUniqueConnectionName } from './common/connection-name.registry.js';
import {
  getEntraCredentialToken,
  getEntraPgConnectionToken,
  getEntraPgOptionsToken,
  getPgPasswordToken,
  getPgPoolToken,
  getPgSecretSourceToken,
} from './common/entra-pg.utils.js';
import { DEFAULT_CONNECTION_NAME } from './entra-pg.constants.js';
import { EntraPgConfigError } from './entra-pg.errors.js';
import type {
  EntraPgModuleAsyncOptions,
  EntraPgModuleOptions,
  EntraPgOptionsFactory,
  EntraPgRegistrationOptions,
} from './interfaces/entra-pg-options.interface.js';
import type { EntraTokenCredential } from './interfaces/token-credential.interface.js';
import { EntraPgConnection } from './connection/entra-pg.connection.js';
import { startMetrics } from './metrics/start-metrics.js';
import { EntraPgHealthIndicator } from './health/entra-pg.health.js';
import { resolveOptions, withSource } from './options/resolve-options.js';
import type { ResolvedEntraPgOptions } from './options/resolved-options.interface.js';
import { createDefaultCredential } from './sources/entra-default-credential.js';
import { EntraTokenSource } from './sources/entra-token.source.js';
import type { PgSecretSource } from './sources/pg-secret-source.interface.js';

/**
 * A PostgreSQL pool whose password is an Entra ID token (or a vault-rotated secret), refreshed
 * ahead of expiry. Register once per connection; inject with `@InjectPgPool(name?)`.
 */
@Module({})
export class EntraPgModule {
  static forRoot(options: EntraPgModuleOptions & EntraPgRegistrationOptions): DynamicModule {
    // Anything but an object is reported by resolveOptions at bootstrap, like any other bad option.
    const isObject = options !== null && typeof options === 'object' && !Array.isArray(options);
    const { name, isGlobal, ...connectionOptions } = isObject ? options : ({} as EntraPgRegistrationOptions);
    return this.build({ name, isGlobal }, [], [
      {
        provide: getEntraPgOptionsToken(name),
        useFactory: () => resolveOptions(isObject ? connectionOptions : options, name ?? DEFAULT_CONNECTION_NAME),
      },
    ]);
  }

  static forRootAsync(options: EntraPgModuleAsyncOptions): DynamicModule {
    return this.build(options, options.imports ?? [], this.createAsyncOptionsProviders(options));
  }

  private static build(
    registration: EntraPgRegistrationOptions,
    imports: NonNullable<EntraPgModuleAsyncOptions['imports']>,
    optionsProviders: Provider[],
  ): DynamicModule {
    const name = registration.name ?? DEFAULT_CONNECTION_NAME;
    const optionsToken = getEntraPgOptionsToken(name);
    const credentialToken = getEntraCredentialToken(name);
    const connectionToken = getEntraPgConnectionToken(name);
    const poolToken = getPgPoolToken(name);
    const passwordToken = getPgPasswordToken(name);
    const sourceToken = getPgSecretSourceToken(name);
    const providers: Provider[] = [
      ...optionsProviders,
      {
        // The pool reads its TokenCredential from here only, so tests can overrideProvider() it.
        provide: credentialToken,
        inject: [optionsToken],
        useFactory: async (options: ResolvedEntraPgOptions): Promise<EntraTokenCredential | null> => {
          if (options.source) return null;
          return options.credential ?? createDefaultCredential(name);
        },
      },
      {
        // Where secrets come from, injectable so tests can overrideProvider() it (AWS, vault) as ENTRA_CREDENTIAL (Entra).
        provide: sourceToken,
        inject: [optionsToken, credentialToken],
        useFactory: (options: ResolvedEntraPgOptions, credential: EntraTokenCredential | null): PgSecretSource => {
          if (options.source) return options.source;
          if (!credential || typeof credential.getToken !== 'function') {
            throw new EntraPgConfigError(
              `EntraPgModule "${name}": no TokenCredential is available; pass \`credential\`, \`source\` or \`password\`, or provide ENTRA_CREDENTIAL.`,
              name,
            );
          }
          return new EntraTokenSource(credential, { scope: options.scope, user: options.pool.user, logger: new Logger(`EntraPg:${name}`) });
        },
      },
      {
        provide: connectionToken,
        inject: [optionsToken, sourceToken, ModulesContainer],
        useFactory: async (options: ResolvedEntraPgOptions, source: PgSecretSource, modules: ModulesContainer) => {
          assertUniqueConnectionName(modules, EntraPgModule, connectionToken, name);
          // The source may have been overridden: its needs (TLS, polling) are checked on the one in use.
          const connection = new EntraPgConnection(name, withSource(options, source), source);
          if (options.metrics) connection.metrics = await startMetrics(connection);
          if (!options.lazyConnect) {
            try {
              await connection.connectOnBoot();
            } catch (error) {
              connection.metrics?.stop();
              throw error;
            }
          }
          return connection;
        },
      },
      { provide: poolToken, inject: [connectionToken], useFactory: (connection: EntraPgConnection) => connection.pool },
      { provide: passwordToken, inject: [connectionToken], useFactory: (connection: EntraPgConnection) => connection.password },
      // Several registrations may share identical metadata; a unique value keeps Nest from merging them.
      { provide: `EntraPgModuleId:${name}`, useValue: randomUUID() },
    ];
    // Always provided: it needs @nestjs/terminus only when a check runs, and says so if it is missing.
    const health = [EntraPgHealthIndicator];
    return {
      module: EntraPgModule,
      global: registration.isGlobal ?? true,
      imports,
      providers: [...providers, ...health],
      exports: [poolToken, passwordToken, credentialToken, sourceToken, connectionToken, ...health],
    };
  }

  private static createAsyncOptionsProviders(options: EntraPgModuleAsyncOptions): Provider[] {
    const name = options.name ?? DEFAULT_CONNECTION_NAME;
    const provide = getEntraPgOptionsToken(name);
    if (options.useFactory) {
      const factory = options.useFactory as (...args: unknown[]) => Promise<EntraPgModuleOptions> | EntraPgModuleOptions;
      return [
        {
          provide,
          inject: options.inject ?? [],
          useFactory: async (...args: unknown[]) => resolveOptions(await factory(...args), name),
        },
      ];
    }
    const factoryClass = options.useExisting ?? options.useClass;
    if (!factoryClass) {
      throw new EntraPgConfigError(
        `EntraPgModule.forRootAsync("${name}") needs useFactory, useClass or useExisting.`,
        name,
      );
    }
    const providers: Provider[] = [
      {
        provide,
        inject: [factoryClass],
        useFactory: async (factory: EntraPgOptionsFactory) => resolveOptions(await factory.createEntraPgOptions(name), name),
      },
    ];
    if (options.useClass) providers.push({ provide: options.useClass, useClass: options.useClass });
    return providers;
  }
}
