import type pg from 'pg';

/** The two pg-pool options this library computes each time pg-pool reads them. */
export interface ComputedLimits {
  /** How many connections the generation may have now. */
  max(): number;
  /** The lifetime of a connection being opened now. */
  maxLifetimeSeconds(): number;
}

const LIMITS = Symbol('nestjs-entra-pg computed limits');

/**
 * pg-pool's options with `max` and `maxLifetimeSeconds` as getters on a prototype. pg-pool reads
 * its options on every checkout and release: redefining a property of its own options object as
 * an accessor (Object.defineProperty) turned that object into a dictionary, so every one of those
 * reads became a hash lookup, several per query.
 */
class ComputedPoolOptions {
  declare [LIMITS]: ComputedLimits;

  constructor(options: pg.PoolOptions, limits: ComputedLimits) {
    const source = options as unknown as Record<PropertyKey, unknown>;
    const target = this as unknown as Record<PropertyKey, unknown>;
    // Symbol keys too: the generation's client tracking travels in them (tracked-client.ts).
    for (const key of Reflect.ownKeys(source)) if (key !== 'max' && key !== 'maxLifetimeSeconds') target[key] = source[key];
    this[LIMITS] = limits;
  }

  get max(): number {
    return this[LIMITS].max();
  }

  get maxLifetimeSeconds(): number {
    return this[LIMITS].maxLifetimeSeconds();
  }
}

/** Replaces `pool.options` (after pg-pool has filled in its defaults) with one whose limits are computed. */
export function computePoolLimits(pool: pg.Pool, limits: ComputedLimits): void {
  pool.options = new ComputedPoolOptions(pool.options, limits) as unknown as pg.PoolOptions;
}
