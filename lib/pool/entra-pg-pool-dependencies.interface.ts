import type { Logger } from '@nestjs/common';
import type { EntraPgConsumerEnd } from '../interfaces/entra-pg-options.interface.js';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import type { ResolvedPoolConfig } from './pool-config.js';

export interface EntraPgPoolDependencies {
  config: ResolvedPoolConfig;
  refresher: CredentialRefresher;
  connectionName: string;
  logger: Logger;
  /** How long shutdown waits for checked-out clients. */
  drainTimeoutMs: number;
  /** What a consumer's `end()` does while the app runs. */
  consumerEnd: EntraPgConsumerEnd;
}
