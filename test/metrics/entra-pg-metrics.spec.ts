import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type pg from 'pg';
import type { EntraPgPool } from '../../lib/index.js';
import { INSTRUMENTS, POOL_NAME_ATTRIBUTE } from '../../lib/metrics/metric-names.js';
import { bootPool, newRole, sleep, waitFor } from '../support/harness.js';
import { LogCapture } from '../support/log-capture.js';
import { type TestPostgres, startPostgres } from '../support/postgres.js';

/** A global MeterProvider whose metrics the test reads on demand from an in-memory exporter. */
class TestMetrics {
  private readonly exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  private readonly reader = new PeriodicExportingMetricReader({ exporter: this.exporter, exportIntervalMillis: 3_600_000 });
  readonly provider = new MeterProvider({ readers: [this.reader] });

  async collect(): Promise<Map<string, MetricData>> {
    this.exporter.reset();
    await this.reader.forceFlush();
    const byName = new Map<string, MetricData>();
    for (const resource of this.exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    }
    return byName;
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}

/** The one data point of `name` for connection "default" (attributes beyond the pool name matched by `extra`). */
function point(all: Map<string, MetricData>, name: string, extra: Record<string, string> = {}): DataPoint<unknown> | undefined {
  return all
    .get(name)
    ?.dataPoints.find(
      (p) => p.attributes[POOL_NAME_ATTRIBUTE] === 'default' && Object.entries(extra).every(([k, v]) => p.attributes[k] === v),
    ) as DataPoint<unknown> | undefined;
}
const value = (all: Map<string, MetricData>, name: string, extra?: Record<string, string>) => point(all, name, extra)?.value as number | undefined;
const count = (all: Map<string, MetricData>, name: string) => (point(all, name)?.value as Histogram | undefined)?.count ?? 0;

describe('OpenTelemetry metrics', () => {
  let db: TestPostgres;
  let telemetry: TestMetrics;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    LogCapture.install();
    telemetry = new TestMetrics();
    metrics.setGlobalMeterProvider(telemetry.provider);
  });
  afterEach(async () => {
    metrics.disable();
    await telemetry.shutdown();
  });

  it('reports the pool limits, wait and create times, token expiry and refreshes, named per the conventions', async () => {
    const authority = await newRole(db, 10 * 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 7, min: 2 } });
    try {
      await Promise.all(Array.from({ length: 12 }, () => app.pool.query('SELECT 1')));
      const all = await telemetry.collect();
      for (const spec of Object.values(INSTRUMENTS)) {
        // Failures, retries and timeouts appear once they happen (below); the rest from the start.
        if ([INSTRUMENTS.refreshFailures, INSTRUMENTS.loginRetries, INSTRUMENTS.timeouts].includes(spec)) continue;
        expect({ name: spec.name, unit: all.get(spec.name)?.descriptor.unit }).toEqual({ name: spec.name, unit: spec.unit });
        expect(point(all, spec.name)).toBeDefined();
      }
      expect(value(all, 'db.client.connection.max')).toBe(7);
      expect(value(all, 'db.client.connection.idle.max')).toBe(7);
      expect(value(all, 'db.client.connection.idle.min')).toBe(2);
      // Boot's SELECT 1 and the 12 queries each waited for a connection; at least one was opened.
      expect(count(all, 'db.client.connection.wait_time')).toBe(13);
      expect(count(all, 'db.client.connection.create_time')).toBeGreaterThanOrEqual(1);
      expect(count(all, 'db.client.connection.create_time')).toBe(app.pool.totalCount);
      expect(count(all, 'entra_pg.token.refresh.duration')).toBe(1);
      const ttl = value(all, 'entra_pg.token.time_to_expiry')!;
      expect(ttl).toBeGreaterThan(9 * 60);
      expect(ttl).toBeLessThanOrEqual(10 * 60);
      expect(value(all, 'entra_pg.pool.rotations')).toBe(0);
      expect(value(all, 'entra_pg.pool.ignored_ends')).toBe(0);

      // The gauge moves with the clock, a rotation is counted with its refresh, an ignored end() too.
      await sleep(1_100);
      const aged = value(await telemetry.collect(), 'entra_pg.token.time_to_expiry')!;
      expect(ttl - aged).toBeGreaterThanOrEqual(1);
      await (app.pool as EntraPgPool).rotate();
      await app.pool.end();
      const later = await telemetry.collect();
      expect(value(later, 'entra_pg.pool.rotations')).toBe(1);
      expect(value(later, 'entra_pg.pool.ignored_ends')).toBe(1);
      expect(count(later, 'entra_pg.token.refresh.duration')).toBe(2);
      // A new token: the gauge jumps back up.
      expect(value(later, 'entra_pg.token.time_to_expiry')).toBeGreaterThan(aged);
      expect(authority.requests).toBe(2);
      // Nothing but the connection name identifies a data point: no user, host or secret.
      for (const metric of later.values()) {
        for (const p of metric.dataPoints) expect(Object.keys(p.attributes).filter((k) => k !== 'error.type')).toEqual([POOL_NAME_ATTRIBUTE]);
      }
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('records every wait time, across batches, at each collection and at shutdown', async () => {
    const authority = await newRole(db, 10 * 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 4 } });
    const histogram = (all: Map<string, MetricData>) => point(all, 'db.client.connection.wait_time')?.value as Histogram;
    try {
      // More than two batches (1,024 each) and a part batch, with callers queuing for 4 connections.
      let left = 2_500;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (left-- > 0) await app.pool.query('SELECT 1');
      }));
      const first = histogram(await telemetry.collect());
      expect(first.count).toBe(2_501); // and boot's SELECT 1
      expect(first.buckets.counts.reduce((a, b) => a + b, 0)).toBe(2_501);
      expect(first.min).toBeGreaterThanOrEqual(0);
      expect(first.max).toBeLessThan(10);
      expect(first.sum).toBeGreaterThan(0);
      // Fewer than a batch since the last collection: all in the next one.
      await app.pool.query('SELECT 1');
      await app.pool.query('SELECT 1');
      expect(histogram(await telemetry.collect()).count).toBe(2_503);
      await app.pool.query('SELECT 1');
    } finally {
      await app.close();
      await authority.close();
    }
    // The last wait before shutdown was recorded when reporting stopped.
    expect(histogram(await telemetry.collect()).count).toBe(2_504);
  });

  it('records a wait that ends after reporting stopped, as it did before waits were batched', async () => {
    const authority = await newRole(db, 10 * 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    const histogram = (all: Map<string, MetricData>) => point(all, 'db.client.connection.wait_time')?.value as Histogram;
    try {
      const held = await app.pool.connect();
      // Queued for the one connection while reporting stops, served after.
      const queued = app.pool.query('SELECT 1');
      await waitFor(() => app.pool.waitingCount === 1);
      app.connection.metrics!.stop();
      held.release();
      await queued;
      // Boot's SELECT 1, the held connection, and the queued query.
      expect(histogram(await telemetry.collect()).count).toBe(3);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('counts failed refreshes by error type, logins retried after a refusal, and connection timeouts', async () => {
    const authority = await newRole(db, 10 * 60_000);
    const app = await bootPool(db, {
      credential: authority,
      pool: { max: 1, connectionTimeoutMillis: 300 },
      refresh: { forcedRefreshMinIntervalMs: 0 },
    });
    try {
      authority.outage = true;
      await app.connection.refresher.refreshNow().catch(() => undefined);
      authority.outage = false;
      let all = await telemetry.collect();
      expect(value(all, 'entra_pg.token.refresh.failures', { 'error.type': 'CredentialUnavailableError' })).toBe(1);
      expect(count(all, 'entra_pg.token.refresh.duration')).toBe(2);

      await db.terminate(authority.role);
      await sleep(100);
      await authority.revoke();
      await app.pool.query('SELECT 1');
      all = await telemetry.collect();
      expect(value(all, 'entra_pg.login.retries')).toBe(1);

      const held: pg.PoolClient = await app.pool.connect();
      const waited = await app.pool.connect().catch((error: unknown) => error);
      held.release();
      expect(waited).toBeInstanceOf(Error);
      all = await telemetry.collect();
      expect(value(all, 'db.client.connection.timeouts')).toBe(1);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('stays out of the pool entirely without a MeterProvider, or with metrics: false', async () => {
    const authority = await newRole(db, 10 * 60_000);
    metrics.disable();
    const without = await bootPool(db, { credential: authority });
    try {
      expect(without.connection.metrics).toBeUndefined();
      expect((without.pool as EntraPgPool).probe).toBeUndefined();
    } finally {
      await without.close();
    }
    metrics.setGlobalMeterProvider(telemetry.provider);
    const off = await bootPool(db, { credential: authority, metrics: false });
    try {
      await off.pool.query('SELECT 1');
      expect((off.pool as EntraPgPool).probe).toBeUndefined();
      expect((await telemetry.collect()).size).toBe(0);
    } finally {
      await off.close();
      await authority.close();
    }
  });
});
