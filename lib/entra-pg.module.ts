import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { assertUniqueConnectionName } from './common/connection-name.registry.js';
import { getEntraPgOptionsToken } from './common/entra-pg.utils.js';
import { connectionProviders, connectionTokens } from './connection/connection.providers.js';
import { DEFAULT_CONNECTION_NAME } from './entra-pg.constants.js';
import { EntraPgConfigError } from './entra-pg.errors.js';
import type {
  EntraPgModuleAsyncOptions,
  EntraPgModuleOptions,
  EntraPgOptionsFactory,
  EntraPgRegistrationOptions,
} from './interfaces/entra-pg-options.interface.js';
import { EntraPgHealthIndicator } from './health/entra-pg.health.js';
import { resolveOptions } from './options/resolve-options.js';

/**
 * A PostgreSQL pool whose password is an Entra ID token (or a vault-rotated secret), refreshed
 * ahead of expiry. Register once per connection; inject with `@InjectPgPool(name?)`.
 */
@Module({})
export class EntraPgModule {
  static forRoot(options: EntraPgModuleOptions & EntraPgRegistrationOptions): DynamicModule {
    // Anything but an object is reported by resolveOptions at bootstrap, like any other bad option.
    const isObject = options !== null && typeof options === 'object' && !Array.isArray(options);
    const { name, isGlobal, secretFrom, ...connectionOptions } = isObject ? options : ({} as EntraPgRegistrationOptions);
    return this.build({ name, isGlobal, secretFrom }, [], [
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
    const tokens = connectionTokens(name);
    // Always provided: it needs @nestjs/terminus only when a check runs, and says so if it is missing.
    const health = [EntraPgHealthIndicator];
    return {
      module: EntraPgModule,
      global: registration.isGlobal ?? true,
      imports,
      providers: [
        ...optionsProviders,
        ...connectionProviders(name, tokens, (modules, token) => assertUniqueConnectionName(modules, EntraPgModule, token, name), registration.secretFrom),
        // Several registrations may share identical metadata; a unique value keeps Nest from merging them.
        { provide: `EntraPgModuleId:${name}`, useValue: randomUUID() },
        ...health,
      ],
      exports: [tokens.pool, tokens.password, tokens.credential, tokens.source, tokens.connection, ...health],
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
