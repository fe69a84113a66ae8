import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { EntraPgModule } from 'nestjs-entra-pg';
import { AppController } from './app.controller.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    TerminusModule,
    // No `credential`: in production the module uses managed identity (@azure/identity); tests
    // override ENTRA_CREDENTIAL with a LocalTokenAuthority.
    EntraPgModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        host: config.getOrThrow<string>('PGHOST'),
        port: Number(config.get('PGPORT') ?? 5432),
        database: config.get<string>('PGDATABASE') ?? 'postgres',
        // Connections are recycled so a rotated token is used by new logins, never by old sessions.
        pool: { maxLifetimeSeconds: Number(config.get('PG_MAX_LIFETIME_SECONDS') ?? 1800) },
      }),
    }),
  ],
  controllers: [AppController, HealthController],
})
export class AppModule {}
