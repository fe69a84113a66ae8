// The main entry: what a Nest app needs. The AWS sources are in `nestjs-entra-pg/aws`, the test kit in
// `nestjs-entra-pg/testing`. Every export is a promise to users (test/package/exports.spec.ts lists them).
export { EntraPgModule } from './entra-pg.module.js';
export { ENTRA_CREDENTIAL, PG_PASSWORD, PG_POOL, PG_SECRET_SOURCE } from './entra-pg.constants.js';
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
export { connectionUrl } from './orm/connection-url.js';
export { EntraPgHealthIndicator } from './health/entra-pg.health.js';
// Types that public methods return: an app compiled with `declaration` must be able to name them.
export type { EntraPgHealthDetails, EntraPgHealthResult } from './health/entra-pg-health.interface.js';
export type { EntraPgConnection, EntraPgConnectionStatus } from './connection/entra-pg.connection.js';
export type { EntraPgPassword } from './refresh/password-provider.js';
export type { EntraPgModuleAsyncOptions, EntraPgModuleOptions, EntraPgOptionsFactory } from './interfaces/entra-pg-options.interface.js';
export type { PgSecret, PgSecretSource } from './sources/pg-secret-source.interface.js';
export { EntraTokenSource } from './sources/entra-token.source.js';
export { StaticPasswordSource } from './sources/static-password.source.js';
export { CallbackSource } from './sources/callback.source.js';
export { SecretSourceError } from './sources/secret-source.error.js';
export { diagnoseEntraPg, formatDiagnosis } from './diagnostics/index.js';
export type { CheckId, CheckStatus, DiagnoseDependencies, Diagnosis, DiagnosisCheck } from './diagnostics/index.js';
