/** The connection name used when `name` is not given. */
export const DEFAULT_CONNECTION_NAME = 'default';

/** Injection token of the default connection's pool (`getPgPoolToken()`). */
export const PG_POOL = 'PG_POOL';

/** Injection token of the default connection's current password, `() => Promise<string>` (`getPgPasswordToken()`). */
export const PG_PASSWORD = 'PG_PASSWORD';

/** Injection token of the default connection's TokenCredential (`getEntraCredentialToken()`). */
export const ENTRA_CREDENTIAL = 'ENTRA_CREDENTIAL';

/**
 * Injection token of the default connection's secret source (`getPgSecretSourceToken()`): the
 * `source` option, or the Entra source built on ENTRA_CREDENTIAL. Override it in tests to replace
 * AWS or vault secrets with a local one.
 */
export const PG_SECRET_SOURCE = 'PG_SECRET_SOURCE';

/** Entra scope of Azure Database for PostgreSQL. */
export const AZURE_POSTGRES_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';

export const ENTRA_PG_MODULE_OPTIONS = 'ENTRA_PG_MODULE_OPTIONS';
export const ENTRA_PG_CONNECTION = 'ENTRA_PG_CONNECTION';
