export { EntraPgModule } from './entra-pg.module.js';
export { AZURE_POSTGRES_SCOPE, DEFAULT_CONNECTION_NAME, ENTRA_CREDENTIAL, PG_PASSWORD, PG_POOL, PG_SECRET_SOURCE } from './entra-pg.constants.js';
export { InjectPgPassword, InjectPgPool } from './common/entra-pg.decorators.js';
export {
  getEntraCredentialToken,
  getEntraPgConnectionToken,
  getPgPasswordToken,
  getPgPoolToken,
  getPgSecretSourceToken,
} from './common/entra-pg.utils.js';
export {
  EntraPgConfigError,
  EntraPgCredentialError,
  EntraPgError,
  EntraPgLoginRefusedError,
  EntraPgShutdownError,
  EntraPgUnreachableError,
  type EntraPgErrorCode,
} from './entra-pg.errors.js';
export { EntraPgPool } from './pool/entra-pg.pool.js';
export { asPgDriver, type PgDriverShim } from './orm/as-pg-driver.js';
export { connectionUrl, type ConnectionUrlOptions } from './orm/connection-url.js';
export { EntraPgHealthIndicator } from './health/entra-pg.health.js';
export type { EntraPgHealthCheckOptions, EntraPgHealthDetails, EntraPgHealthResult } from './health/entra-pg-health.interface.js';
export type { EntraPgConnection, EntraPgConnectionStatus } from './connection/entra-pg.connection.js';
export type { EntraPgPassword } from './refresh/password-provider.js';
export type {
  EntraPgConsumerEnd,
  EntraPgModuleAsyncOptions,
  EntraPgModuleOptions,
  EntraPgOptionsFactory,
  EntraPgPgOptions,
  EntraPgPoolOptions,
  EntraPgRefreshOptions,
  EntraPgRegistrationOptions,
} from './interfaces/entra-pg-options.interface.js';
export type { PgSecret, PgSecretSource } from './sources/pg-secret-source.interface.js';
export { EntraTokenSource, type EntraTokenSourceOptions } from './sources/entra-token.source.js';
export { StaticPasswordSource } from './sources/static-password.source.js';
export { CallbackSource, type CallbackSourceOptions } from './sources/callback.source.js';
export { AwsRdsIamSource, type AwsRdsIamCredentials, type AwsRdsIamCredentialsProvider, type AwsRdsIamSourceOptions } from './sources/aws-rds-iam.source.js';
export { SecretSourceError } from './sources/secret-source.error.js';
export type { EntraAccessToken, EntraGetTokenOptions, EntraTokenCredential } from './interfaces/token-credential.interface.js';
export { AwsSecretsManagerSource, type AwsSecretsManagerClient, type AwsSecretsManagerClientConfig, type AwsSecretsManagerConnectionTarget, type AwsSecretsManagerCredentials, type AwsSecretsManagerSourceOptions } from './sources/aws-secrets-manager.source.js';
