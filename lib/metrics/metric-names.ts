/**
 * The instruments nestjs-entra-pg reports. From the OpenTelemetry semantic conventions for
 * database client pools, only what @opentelemetry/instrumentation-pg does not already emit for any
 * pg-pool (it has connection.count, pending_requests and operation.duration); the token and the
 * pool's own events under `entra_pg.`.
 */

/** Attribute naming the connection (the module's connection name) on every data point. */
export const POOL_NAME_ATTRIBUTE = 'db.client.connection.pool.name';
/** Attribute saying what kind of error a refresh failed with: an error class name, or `timeout`. Never a message. */
export const ERROR_TYPE_ATTRIBUTE = 'error.type';

export const METER_NAME = 'nestjs-entra-pg';

export interface InstrumentSpec {
  name: string;
  unit: string;
  description: string;
}

/** Bucket boundaries the semantic conventions suggest for connection wait and create times, in seconds. */
export const DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

export const INSTRUMENTS = {
  connectionMax: {
    name: 'db.client.connection.max',
    unit: '{connection}',
    description: 'The maximum number of open connections allowed (pool.max).',
  },
  idleMax: {
    name: 'db.client.connection.idle.max',
    unit: '{connection}',
    description: 'The maximum number of idle open connections allowed (pg-pool keeps up to pool.max idle).',
  },
  idleMin: {
    name: 'db.client.connection.idle.min',
    unit: '{connection}',
    description: 'The minimum number of idle open connections allowed (pool.min).',
  },
  timeouts: {
    name: 'db.client.connection.timeouts',
    unit: '{timeout}',
    description: 'Attempts to get a connection that ran out of pool.connectionTimeoutMillis.',
  },
  waitTime: {
    name: 'db.client.connection.wait_time',
    unit: 's',
    description: 'The time it took to obtain an open connection from the pool.',
  },
  createTime: {
    name: 'db.client.connection.create_time',
    unit: 's',
    description: 'The time it took to open a new connection, login included.',
  },
  timeToExpiry: {
    name: 'entra_pg.token.time_to_expiry',
    unit: 's',
    description: 'Seconds until the cached token (or secret) expires; negative once it has. None for secrets without expiry.',
  },
  refreshDuration: {
    name: 'entra_pg.token.refresh.duration',
    unit: 's',
    description: 'How long each request to the identity service (or secret source) took, failed ones included.',
  },
  refreshFailures: {
    name: 'entra_pg.token.refresh.failures',
    unit: '{failure}',
    description: 'Token (or secret) requests that failed, by error.type.',
  },
  rotations: {
    name: 'entra_pg.pool.rotations',
    unit: '{rotation}',
    description: 'Times the pool moved to a new generation (identity change or rotate()).',
  },
  loginRetries: {
    name: 'entra_pg.login.retries',
    unit: '{login}',
    description: 'Logins the server refused that were retried with a freshly fetched token.',
  },
  ignoredEnds: {
    name: 'entra_pg.pool.ignored_ends',
    unit: '{call}',
    description: "Consumer end() calls ignored while the app runs (consumerEnd: 'ignore').",
  },
} satisfies Record<string, InstrumentSpec>;
