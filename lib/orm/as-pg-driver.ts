import type pg from 'pg';

/**
 * The part of the `pg` module TypeORM's PostgresDriver uses: it only calls `new driver.Pool(config)`
 * (and reads `driver.native` / `driver.defaults`, which the shim leaves out on purpose).
 */
export interface PgDriverShim {
  Pool: new (config?: pg.PoolConfig) => pg.Pool;
}

/**
 * A `pg` module stand-in whose `Pool` constructor hands back the module's pool, so an ORM that
 * builds its own pool from a driver module (TypeORM's `driver` option) shares `PG_POOL` instead.
 * The connection settings the ORM passes are ignored: the module's pool already has them, and
 * its password is refreshed by the module. `native` is left out so `pg-native`, if installed,
 * cannot swap in a pool of its own; `defaults` is left out so `parseInt8` cannot change pg's
 * process-wide defaults (pass `pg: { types }` to the module instead).
 */
export function asPgDriver(pool: pg.Pool): PgDriverShim {
  // A plain function, not a class: `new` returns the object a constructor function returns.
  function SharedPool(): pg.Pool {
    return pool;
  }
  return { Pool: SharedPool as unknown as PgDriverShim['Pool'] };
}
