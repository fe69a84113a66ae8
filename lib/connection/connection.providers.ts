import { Logger, type Provider } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import {
  getEntraCredentialToken,
  getEntraPgConnectionToken,
  getEntraPgOptionsToken,
  getPgPasswordToken,
  getPgPoolToken,
  getPgSecretSourceToken,
} from '../common/entra-pg.utils.js';
import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import { startMetrics } from '../metrics/start-metrics.js';
import { withSource } from '../options/resolve-options.js';
import type { ResolvedEntraPgOptions } from '../options/resolved-options.interface.js';
import { createDefaultCredential } from '../sources/entra-default-credential.js';
import { EntraTokenSource } from '../sources/entra-token.source.js';
import type { PgSecretSource } from '../sources/pg-secret-source.interface.js';
import { EntraPgConnection } from './entra-pg.connection.js';

/** The injection tokens of one named connection. */
export function connectionTokens(name: string) {
  return {
    options: getEntraPgOptionsToken(name),
    credential: getEntraCredentialToken(name),
    source: getPgSecretSourceToken(name),
    connection: getEntraPgConnectionToken(name),
    pool: getPgPoolToken(name),
    password: getPgPasswordToken(name),
  };
}

type Tokens = ReturnType<typeof connectionTokens>;

/**
 * What one connection provides, each step on its own token so a test can overrideProvider() it:
 * the TokenCredential (Entra), the secret source (AWS, vault, or the credential wrapped), the
 * connection (booted, with metrics), and PG_POOL and the password function read off it.
 */
export function connectionProviders(
  name: string,
  tokens: Tokens,
  assertUnique: (modules: ModulesContainer, token: Tokens['connection']) => void,
  secretFrom?: string,
): Provider[] {
  if (secretFrom !== undefined) return sharedSecretProviders(name, tokens, assertUnique, secretFrom);
  return [
    {
      provide: tokens.credential,
      inject: [tokens.options],
      useFactory: async (options: ResolvedEntraPgOptions): Promise<EntraTokenCredential | null> => {
        if (options.source) return null;
        return options.credential ?? createDefaultCredential(name);
      },
    },
    {
      provide: tokens.source,
      inject: [tokens.options, tokens.credential],
      useFactory: (options: ResolvedEntraPgOptions, credential: EntraTokenCredential | null) => secretSource(name, options, credential),
    },
    {
      provide: tokens.connection,
      inject: [tokens.options, tokens.source, ModulesContainer],
      useFactory: async (options: ResolvedEntraPgOptions, source: PgSecretSource, modules: ModulesContainer) => {
        assertUnique(modules, tokens.connection);
        return openConnection(name, options, source);
      },
    },
    ...readOffConnection(tokens),
  ];
}

/**
 * A connection that uses another connection's secret (`secretFrom`): no credential or source of its
 * own; its refresher is the other connection's, so one token refresh feeds both pools.
 */
function sharedSecretProviders(
  name: string,
  tokens: Tokens,
  assertUnique: (modules: ModulesContainer, token: Tokens['connection']) => void,
  secretFrom: string,
): Provider[] {
  const owner = connectionTokens(secretFrom);
  return [
    { provide: tokens.credential, useValue: null },
    { provide: tokens.source, inject: [owner.source], useFactory: (source: PgSecretSource) => source },
    {
      provide: tokens.connection,
      inject: [tokens.options, owner.connection, ModulesContainer],
      useFactory: async (options: ResolvedEntraPgOptions, from: EntraPgConnection, modules: ModulesContainer) => {
        assertUnique(modules, tokens.connection);
        const fail = (message: string) => new EntraPgConfigError(`EntraPgModule "${name}": ${message}`, name);
        if (secretFrom === name) throw fail('secretFrom names this connection itself; name the connection whose secret it shares.');
        if (options.source !== undefined || options.credential !== undefined) {
          throw fail(`secretFrom: '${secretFrom}' shares that connection's secret: give no credential, source or password here.`);
        }
        if (options.pool.user !== undefined && options.pool.user !== from.config.user) {
          throw fail(`secretFrom: '${secretFrom}' logs in as that connection's user; remove \`user\` or make it "${from.config.user ?? '(from the token)'}".`);
        }
        return openConnection(name, options, from.source, from);
      },
    },
    ...readOffConnection(tokens),
  ];
}

/** PG_POOL and the password function, read off the connection. */
function readOffConnection(tokens: Tokens): Provider[] {
  return [
    { provide: tokens.pool, inject: [tokens.connection], useFactory: (connection: EntraPgConnection) => connection.pool },
    { provide: tokens.password, inject: [tokens.connection], useFactory: (connection: EntraPgConnection) => connection.password },
  ];
}

function secretSource(name: string, options: ResolvedEntraPgOptions, credential: EntraTokenCredential | null): PgSecretSource {
  if (options.source) return options.source;
  if (!credential || typeof credential.getToken !== 'function') {
    throw new EntraPgConfigError(
      `EntraPgModule "${name}": no TokenCredential is available; pass \`credential\`, \`source\` or \`password\`, or provide ENTRA_CREDENTIAL.`,
      name,
    );
  }
  return new EntraTokenSource(credential, { scope: options.scope, user: options.pool.user, logger: new Logger(`EntraPg:${name}`) });
}

async function openConnection(name: string, options: ResolvedEntraPgOptions, source: PgSecretSource, secretFrom?: EntraPgConnection): Promise<EntraPgConnection> {
  // The source may have been overridden: its needs (TLS, polling) are checked on the one in use.
  const connection = new EntraPgConnection(name, withSource(options, source), source, secretFrom);
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
}
