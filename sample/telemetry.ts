import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/** The metrics endpoint: a Prometheus scrape target on a port of its own, on loopback unless told otherwise. */
export interface SampleTelemetry {
  url: string;
  shutdown(): Promise<void>;
}

/**
 * Registers a global MeterProvider exporting to Prometheus. Called before the Nest app is created,
 * so EntraPgModule finds the provider and reports its pool and token metrics.
 */
export async function startTelemetry(port: number, host = '127.0.0.1'): Promise<SampleTelemetry> {
  const exporter = new PrometheusExporter({ port, host, preventServerStart: true });
  await exporter.startServer();
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  return {
    url: `http://${host}:${port}/metrics`,
    shutdown: async () => {
      metrics.disable();
      await provider.shutdown();
    },
  };
}
