import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { EntraPgHealthIndicator } from 'nestjs-entra-pg';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: EntraPgHealthIndicator,
  ) {}

  /**
   * Readiness: can this replica serve requests now? Database ping plus token state. 503 takes
   * the replica out of the load balancer; it also turns 503 first thing on SIGTERM.
   */
  @Get()
  @HealthCheck()
  readiness(): Promise<HealthCheckResult> {
    return this.health.check([() => this.database.isHealthy('database', { timeoutMs: 1000 })]);
  }

  /**
   * Liveness: is the process itself working? Never the database: an outage there must not make
   * the orchestrator restart every replica, which would not fix it.
   */
  @Get('live')
  liveness(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
