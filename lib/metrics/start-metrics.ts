import { EntraPgMetricsReporter } from './entra-pg-metrics.reporter.js';
import type { MetricsSubject } from './metrics-subject.interface.js';
import { METER_NAME } from './metric-names.js';

/** A running metrics reporter, as the connection holds it (no OpenTelemetry type leaks into the API). */
export interface MetricsHandle {
  stop(): void;
}

/**
 * Reports the connection's metrics if @opentelemetry/api is installed and a global MeterProvider is
 * registered (register it before the Nest app is created); otherwise does nothing at all, so the
 * pool runs with no instrumentation in its path.
 */
export async function startMetrics(subject: MetricsSubject): Promise<MetricsHandle | undefined> {
  // Not installed: no metrics, and nothing to say about it.
  const api = await import('@opentelemetry/api').catch(() => undefined);
  if (api === undefined) return undefined;
  const meter = api.metrics.getMeter(METER_NAME);
  // Without a registered provider the API hands out its one no-op meter.
  if (meter === api.createNoopMeter()) return undefined;
  return new EntraPgMetricsReporter(meter, subject).start();
}
