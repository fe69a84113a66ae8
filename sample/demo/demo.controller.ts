import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import type pg from 'pg';
import { InjectPgPool } from 'nestjs-entra-pg';

/** Shows what happens to a request in flight during shutdown: try it with `kill -TERM`. */
@Controller('demo')
export class DemoController {
  constructor(@InjectPgPool() private readonly pool: pg.Pool) {}

  @Get('slow')
  async slow(@Query('ms') ms = '2000'): Promise<{ sleptMs: number; user: string }> {
    const sleep = Number(ms);
    if (!Number.isInteger(sleep) || sleep < 0 || sleep > 30_000) throw new BadRequestException('ms must be 0 to 30000');
    const { rows } = await this.pool.query<{ u: string }>('SELECT current_user AS u, pg_sleep($1::float / 1000)', [sleep]);
    return { sleptMs: sleep, user: rows[0]!.u };
  }
}
