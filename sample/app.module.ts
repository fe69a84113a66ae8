import { ManagedIdentityCredential } from '@azure/identity';
import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { EntraPgModule } from 'nestjs-entra-pg';
import { DemoController } from './demo/demo.controller.js';
import { HealthModule } from './health/health.module.js';
import { LocalAzure } from './local/local-azure.js';
import { LocalAzureShutdown } from './local/local-azure.shutdown.js';
import { TodosModule } from './todos/todos.module.js';

@Module({})
export class AppModule {
  /** `local` is the stand-in for Azure that main.ts starts when PGHOST is not set. */
  static register(local?: LocalAzure): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true }),
        EntraPgModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) => {
            const clientId = config.get<string>('AZURE_CLIENT_ID');
            return {
              // PGHOST, PGPORT, PGDATABASE and PGUSER are read by the module when not given here.
              host: config.get<string>('PGHOST'),
              // One credential instance for the app's life; a user-assigned identity is picked by client id.
              // The module retries a failed refresh on its own backoff while the token is still valid, so
              // the credential's own retry chain (seconds to a minute) is cut short to report failures promptly.
              credential: new ManagedIdentityCredential({ ...(clientId ? { clientId } : {}), retryOptions: { maxRetries: 1 } }),
              pool: { max: Number(config.get('PG_POOL_MAX') ?? 10), maxLifetimeSeconds: 3600 },
              applicationName: 'todo-sample',
            };
          },
        }),
        TodosModule,
        HealthModule,
      ],
      controllers: [DemoController],
      providers: local ? [{ provide: LocalAzure, useValue: local }, LocalAzureShutdown] : [],
    };
  }
}
