import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { EntraPgModule } from 'nestjs-entra-pg';
import { DemoController } from './demo/demo.controller.js';
import { entraPgOptions } from './entra-pg.options.js';
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
          useFactory: (config: ConfigService) => entraPgOptions((name) => config.get<string>(name)),
        }),
        TodosModule,
        HealthModule,
      ],
      controllers: [DemoController],
      providers: local ? [{ provide: LocalAzure, useValue: local }, LocalAzureShutdown] : [],
    };
  }
}
