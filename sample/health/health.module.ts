import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';

@Module({
  imports: [
    // On SIGTERM, readiness answers 503 for this long before HTTP closes, so the load balancer stops sending first.
    TerminusModule.forRoot({ gracefulShutdownTimeoutMs: Number(process.env.SHUTDOWN_GRACE_MS ?? 5000) }),
  ],
  controllers: [HealthController],
})
export class HealthModule {}
