import { Controller, Get } from '@nestjs/common';
import { InjectPgPool } from 'nestjs-entra-pg';
import { Pool } from 'pg';

@Controller()
export class AppController {
  constructor(@InjectPgPool() private readonly pool: Pool) {}

  @Get('whoami')
  async whoami(): Promise<{ user: string }> {
    const { rows } = await this.pool.query<{ user: string }>('SELECT current_user AS "user"');
    return rows[0];
  }
}
