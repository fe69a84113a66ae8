import {
  DEFAULT_CONNECTION_NAME,
  ENTRA_CREDENTIAL,
  ENTRA_PG_CONNECTION,
  ENTRA_PG_MODULE_OPTIONS,
  PG_PASSWORD,
  PG_POOL,
  PG_SECRET_SOURCE,
} from '../entra-pg.constants.js';

function scoped(base: string, name: string | undefined): string {
  return !name || name === DEFAULT_CONNECTION_NAME ? base : `${name}_${base}`;
}

/** Token of a connection's pool: `PG_POOL` for the default connection, `<name>_PG_POOL` otherwise. */
export function getPgPoolToken(name?: string): string {
  return scoped(PG_POOL, name);
}

/** Token of a connection's current password (`EntraPgPassword`): `PG_PASSWORD` for the default connection. */
export function getPgPasswordToken(name?: string): string {
  return scoped(PG_PASSWORD, name);
}

/** Token of a connection's TokenCredential; override it in tests to replace the identity. */
export function getEntraCredentialToken(name?: string): string {
  return scoped(ENTRA_CREDENTIAL, name);
}

/** Token of a connection's secret source (`PgSecretSource`); override it in tests to replace where secrets come from. */
export function getPgSecretSourceToken(name?: string): string {
  return scoped(PG_SECRET_SOURCE, name);
}

/** Token of a connection's resolved module options. */
export function getEntraPgOptionsToken(name?: string): string {
  return scoped(ENTRA_PG_MODULE_OPTIONS, name);
}

/** Token of a connection's internal state (credential cache and pool), used by the health indicator. */
export function getEntraPgConnectionToken(name?: string): string {
  return scoped(ENTRA_PG_CONNECTION, name);
}
