import type { EntraPgPool } from '../pool/entra-pg.pool.js';
import type { ResolvedPoolConfig } from '../pool/pool-types.js';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';

/** What one connection's metrics are read from. Free of OpenTelemetry types: the package is an optional peer. */
export interface MetricsSubject {
  name: string;
  pool: EntraPgPool;
  refresher: CredentialRefresher;
  config: Pick<ResolvedPoolConfig, 'max' | 'min'>;
}
