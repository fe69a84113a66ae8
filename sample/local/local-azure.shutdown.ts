import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type pg from 'pg';
import { InjectPgPool } from 'nestjs-entra-pg';
import { LocalAzure } from './local-azure.js';

/** Stops the local database only after the pool has closed (pool.end() is the pool's own, single shutdown). */
@Injectable()
export class LocalAzureShutdown implements OnApplicationShutdown {
  constructor(
    private readonly local: LocalAzure,
    @InjectPgPool() private readonly pool: pg.Pool,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
    await this.local.stop();
  }
}
