import { Test } from '@nestjs/testing';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { EntraPgModule, type EntraPgModuleOptions, type EntraPgPool, PG_POOL } from 'nestjs-entra-pg';

/** A booted EntraPgModule's pool and how to close it (the profiling scripts' way of building one). */
export interface BootedPool {
  pool: EntraPgPool;
  close(): Promise<void>;
}

/**
 * Boots EntraPgModule as an app would, with a pool of `poolMax`. With `withMetrics`, a MeterProvider
 * (its exporter never called during a run) is registered while the module boots, so metrics record,
 * and unregistered afterwards so later boots run without them.
 */
export async function bootEntraPg(options: EntraPgModuleOptions, poolMax: number, withMetrics = false): Promise<BootedPool> {
  const provider = withMetrics
    ? new MeterProvider({
        readers: [
          new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 }),
        ],
      })
    : undefined;
  if (provider) metrics.setGlobalMeterProvider(provider);
  try {
    const module = await Test.createTestingModule({ imports: [EntraPgModule.forRoot({ ...options, pool: { max: poolMax, ...options.pool } })] })
      .setLogger(false as never)
      .compile();
    await module.init();
    return {
      pool: module.get<EntraPgPool>(PG_POOL),
      async close() {
        await module.close();
        await provider?.shutdown();
      },
    };
  } finally {
    if (provider) metrics.disable();
  }
}
