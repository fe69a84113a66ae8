import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { LocalAzure, playsAzureLocally } from './local/local-azure.js';
import { startTelemetry } from './telemetry.js';

async function bootstrap(): Promise<void> {
  const logger = new Logger('TodoSample');
  let local: LocalAzure | undefined;
  if (playsAzureLocally(process.env)) {
    // No database configured on a developer's machine: play Azure locally, with short-lived tokens so /health shows them rotate.
    local = await LocalAzure.start(Number(process.env.SAMPLE_TOKEN_LIFETIME_MS ?? 60_000));
    Object.assign(process.env, local.env);
    logger.log(`PGHOST is not set: started a local PostgreSQL on port ${local.env.PGPORT} and a managed-identity endpoint`);
  }
  // Before the app: the pool reports its metrics only if a MeterProvider is registered when it starts.
  const telemetry = await startTelemetry(Number(process.env.METRICS_PORT ?? 9464), process.env.HOST ?? '127.0.0.1').catch((error: unknown) => {
    logger.warn(`No metrics endpoint: ${error instanceof Error ? error.message : String(error)}; set METRICS_PORT to a free port`);
    return undefined;
  });
  if (telemetry) logger.log(`Metrics (Prometheus) on ${telemetry.url}`);
  const app = await NestFactory.create(AppModule.register(local));
  // SIGTERM: readiness turns 503, in-flight requests finish, HTTP closes, then the pool; exit 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  logger.log(`Todo sample listening on ${url}`);
  logger.log(`Try: curl -s ${url}/health | jq   (watch tokenExpiresInSeconds count down and refresh)`);
  logger.log(`     curl -s -X POST ${url}/todos -H 'content-type: application/json' -d '{"title":"rotate nothing by hand"}'`);
  logger.log(`     curl -s ${url}/todos`);
  if (telemetry) logger.log(`     curl -s ${telemetry.url} | grep entra_pg_token   (the token gauge moving)`);
}

bootstrap().catch((error: unknown) => {
  new Logger('TodoSample').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
