import pg from 'pg';
import { computePoolLimits } from '../../lib/pool/pool-generations.js';
import { hasFastProperties } from '../support/v8-shape.js';

describe('computed pool options', () => {
  it('computes max and maxLifetimeSeconds on every read and keeps every other option, symbols included', async () => {
    const tag = Symbol('tag');
    const pool = new pg.Pool({ host: '127.0.0.1', max: 9, maxLifetimeSeconds: 30, idleTimeoutMillis: 1_234, [tag]: 'kept' } as pg.PoolConfig);
    let max = 3;
    computePoolLimits(pool, { max: () => max, maxLifetimeSeconds: () => 42 });
    expect(pool.options.max).toBe(3);
    max = 5;
    expect(pool.options.max).toBe(5);
    expect(pool.options.maxLifetimeSeconds).toBe(42);
    expect(pool.options).toMatchObject({ host: '127.0.0.1', idleTimeoutMillis: 1_234, min: 0, maxUses: Infinity });
    expect((pool.options as unknown as Record<symbol, unknown>)[tag]).toBe('kept');
    await pool.end();
  });

  it('leaves pg-pool an options object with fast properties, which it reads on every checkout and release', async () => {
    const pool = new pg.Pool({ host: '127.0.0.1', max: 4 });
    expect(hasFastProperties(pool.options)).toBe(true);
    computePoolLimits(pool, { max: () => 4, maxLifetimeSeconds: () => 0 });
    expect(hasFastProperties(pool.options)).toBe(true);
    // What this replaces: an accessor defined on pg-pool's own object makes it a dictionary.
    const redefined = new pg.Pool({ host: '127.0.0.1', max: 4 });
    Object.defineProperty(redefined.options, 'max', { configurable: true, get: () => 4 });
    expect(hasFastProperties(redefined.options)).toBe(false);
    await pool.end();
    await redefined.end();
  });
});
