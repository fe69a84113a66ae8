import type { Attributes, BatchObservableCallback, Counter, Histogram, Meter, Observable } from '@opentelemetry/api';
import { EntraPgCredentialError } from '../entra-pg.errors.js';
import type { AcquireCallback, EntraPgPoolProbe } from '../pool/pool-types.js';
import type { MetricsSubject } from './metrics-subject.interface.js';
import { DURATION_BUCKETS_S, ERROR_TYPE_ATTRIBUTE, INSTRUMENTS, type InstrumentSpec, POOL_NAME_ATTRIBUTE } from './metric-names.js';

/** pg-pool's message when a caller's connectionTimeoutMillis runs out, and ours while a token is awaited. */
const TIMEOUT_MESSAGES = ['timeout exceeded when trying to connect', 'pool.connectionTimeoutMillis'];
/**
 * Wait times are handed to the histogram in batches of this many (8 KiB), and at every collection.
 * Histogram.record() costs about 1 µs, most of it the SDK hashing the attributes on each call; in
 * a loop of records that work stays in the CPU's caches, interleaved with queries it costs several
 * times more.
 */
const WAIT_TIME_BATCH = 1024;
/** Something safe and low-cardinality to use as an attribute value. */
const ERROR_TYPE_SHAPE = /^[A-Za-z][\w.]{0,63}$/;

/**
 * Reports one connection's metrics, after Npgsql's MetricsReporter: counters and snapshots the pool
 * and refresher keep anyway are read when the exporter collects; the few events no counter covers
 * arrive through the pool's probe and the refresher's attempt listener, which exist only while a
 * reporter does. Nothing here runs on the query path without a MeterProvider.
 */
export class EntraPgMetricsReporter implements EntraPgPoolProbe {
  private readonly attributes: Attributes;
  private readonly timeouts: Counter;
  private readonly waitTime: Histogram;
  private readonly createTime: Histogram;
  private readonly refreshDuration: Histogram;
  private readonly refreshFailures: Counter;
  private readonly loginRetries: Counter;
  private readonly observables: Observable[];
  private readonly observe: BatchObservableCallback;
  /** Wait times (seconds) not yet recorded on `waitTime`; see WAIT_TIME_BATCH. */
  private readonly pendingWaits = new Float64Array(WAIT_TIME_BATCH);
  private pendingWaitCount = 0;
  private stopped = false;

  constructor(
    private readonly meter: Meter,
    private readonly subject: MetricsSubject,
  ) {
    this.attributes = { [POOL_NAME_ATTRIBUTE]: subject.name };
    const histogram = (spec: InstrumentSpec) =>
      meter.createHistogram(spec.name, { unit: spec.unit, description: spec.description, advice: { explicitBucketBoundaries: DURATION_BUCKETS_S } });
    const counter = (spec: InstrumentSpec) => meter.createCounter(spec.name, { unit: spec.unit, description: spec.description });
    this.timeouts = counter(INSTRUMENTS.timeouts);
    this.waitTime = histogram(INSTRUMENTS.waitTime);
    this.createTime = histogram(INSTRUMENTS.createTime);
    this.refreshDuration = histogram(INSTRUMENTS.refreshDuration);
    this.refreshFailures = counter(INSTRUMENTS.refreshFailures);
    this.loginRetries = counter(INSTRUMENTS.loginRetries);

    const upDown = (spec: InstrumentSpec) => meter.createObservableUpDownCounter(spec.name, { unit: spec.unit, description: spec.description });
    const observableCounter = (spec: InstrumentSpec) => meter.createObservableCounter(spec.name, { unit: spec.unit, description: spec.description });
    const max = upDown(INSTRUMENTS.connectionMax);
    const idleMax = upDown(INSTRUMENTS.idleMax);
    const idleMin = upDown(INSTRUMENTS.idleMin);
    const timeToExpiry = meter.createObservableGauge(INSTRUMENTS.timeToExpiry.name, {
      unit: INSTRUMENTS.timeToExpiry.unit,
      description: INSTRUMENTS.timeToExpiry.description,
    });
    const rotations = observableCounter(INSTRUMENTS.rotations);
    const ignoredEnds = observableCounter(INSTRUMENTS.ignoredEnds);
    this.observables = [max, idleMax, idleMin, timeToExpiry, rotations, ignoredEnds];
    this.observe = (result) => {
      // Observable callbacks run before the meter collects its histograms: every wait so far is in.
      this.recordPendingWaits();
      const { pool, refresher, config } = this.subject;
      result.observe(max, config.max, this.attributes);
      result.observe(idleMax, config.max, this.attributes);
      result.observe(idleMin, config.min, this.attributes);
      const expiresAt = refresher.snapshot().expiresAt;
      if (expiresAt !== undefined) result.observe(timeToExpiry, (expiresAt - Date.now()) / 1000, this.attributes);
      result.observe(rotations, pool.rotations, this.attributes);
      result.observe(ignoredEnds, pool.ignoredEnds, this.attributes);
    };
  }

  /** Starts reporting: observable callbacks, the pool's probe, the refresher's attempt listener. */
  start(): this {
    this.meter.addBatchObservableCallback(this.observe, this.observables);
    this.subject.pool.probe = this;
    this.subject.refresher.onAttempt((durationMs, error) => {
      if (this.stopped) return;
      this.refreshDuration.record(durationMs / 1000, this.attributes);
      if (error !== undefined) this.refreshFailures.add(1, { ...this.attributes, [ERROR_TYPE_ATTRIBUTE]: errorType(error) });
    });
    return this;
  }

  /** Stops reporting; the instruments' last values stay with the exporter. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.recordPendingWaits();
    this.meter.removeBatchObservableCallback(this.observe, this.observables);
    if (this.subject.pool.probe === this) this.subject.pool.probe = undefined;
  }

  acquiring(callback: AcquireCallback): AcquireCallback {
    const startedAt = performance.now();
    return (error, client) => {
      if (client) {
        const seconds = (performance.now() - startedAt) / 1000;
        // Once stopped, no collection empties the buffer: a caller queued before stop() is recorded at once.
        if (this.stopped) {
          this.waitTime.record(seconds, this.attributes);
        } else {
          this.pendingWaits[this.pendingWaitCount++] = seconds;
          if (this.pendingWaitCount === WAIT_TIME_BATCH) this.recordPendingWaits();
        }
      } else if (error && TIMEOUT_MESSAGES.some((message) => error.message.includes(message))) this.timeouts.add(1, this.attributes);
      callback(error, client);
    };
  }

  private recordPendingWaits(): void {
    const count = this.pendingWaitCount;
    this.pendingWaitCount = 0;
    for (let i = 0; i < count; i += 1) this.waitTime.record(this.pendingWaits[i]!, this.attributes);
  }

  creating(callback: (error: Error) => void): (error: Error) => void {
    const startedAt = performance.now();
    return (error) => {
      if (!error) this.createTime.record((performance.now() - startedAt) / 1000, this.attributes);
      callback(error);
    };
  }

  loginRetried(): void {
    this.loginRetries.add(1, this.attributes);
  }
}

/** A low-cardinality name for what a refresh failed with; never its message, which may quote a secret. */
function errorType(error: unknown): string {
  if (error instanceof EntraPgCredentialError) {
    if (error.message.includes('refresh.timeoutMs')) return 'timeout';
    if (error.message.includes('expired') || error.message.includes('seconds since the epoch')) return 'expired_secret';
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (error.name === 'Error' && typeof code === 'string' && ERROR_TYPE_SHAPE.test(code)) return code;
    if (ERROR_TYPE_SHAPE.test(error.name)) return error.name;
  }
  return '_OTHER';
}
