import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import type { EntraPgModuleOptions } from 'nestjs-entra-pg';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import pg from 'pg';
import { startPostgres } from '../test/support/postgres.js';
import { bootEntraPg } from './boot-entra-pg.js';
import { PGBOUNCER_INSTALL_HINT, startPgBouncer } from '../test/support/pgbouncer.js';

/**
 * One implementation at a time under bench/direct.ts's load (32 workers, pool of 20, `SELECT 1`),
 * for a profiler: each measured window is recorded through the inspector as its own .cpuprofile
 * (start-up, Nest boot and the database are not in it), with queries, CPU and GC counts beside it
 * in a .json for bench/profile-summary.ts. Runs the implementations one after another, `--rounds`
 * times, alternating, so raw and ours see the same machine.
 *
 *   npm run bench:profile -- --impl raw,token,metrics --seconds 5 [--via pgbouncer] [--out dir]
 *   node bench/dist/bench/profile-summary.js dir/*.cpuprofile
 */
const IMPLS = ['raw', 'static', 'token', 'metrics'] as const;
type Impl = (typeof IMPLS)[number];

interface Queryable {
  query(sql: string): Promise<unknown>;
}

const { values: args } = parseArgs({
  options: {
    impl: { type: 'string', default: 'raw,token' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '1' },
    via: { type: 'string', default: 'postgres' },
    out: { type: 'string', default: 'bench/profiles' },
    'no-profile': { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const impls = args.impl.split(',').map((name) => {
    if (!(IMPLS as readonly string[]).includes(name)) throw new Error(`--impl takes ${IMPLS.join(', ')}; got "${name}"`);
    return name as Impl;
  });
  // Bounded: a typo must not make an endless run.
  const seconds = Math.min(120, Math.max(1, Number(args.seconds)));
  const rounds = Math.min(20, Math.max(1, Number(args.rounds)));
  await mkdir(args.out, { recursive: true });
  const db = await startPostgres();
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    await db.createRole('profile_raw');
    await db.createRole('profile_token');
    await db.adminPool.query(`ALTER ROLE profile_raw PASSWORD 'profile-raw'`);
    let base = { host: db.host, port: db.port, database: 'postgres' };
    if (args.via === 'pgbouncer') {
      const bouncer = await startPgBouncer(db);
      if (!bouncer) throw new Error(`PgBouncer is not installed: ${PGBOUNCER_INSTALL_HINT}`);
      cleanups.unshift(() => bouncer.stop());
      base = { ...base, host: bouncer.host, port: bouncer.port };
    } else if (args.via !== 'postgres') {
      throw new Error(`--via takes postgres or pgbouncer; got "${args.via}"`);
    }
    const authority = new LocalTokenAuthority({ admin: db.admin, role: 'profile_token', lifetimeMs: 3_600_000, cacheForMs: 3_600_000 });
    cleanups.unshift(() => authority.close());
    const boot = async (options: EntraPgModuleOptions, withMetrics = false): Promise<Queryable> => {
      const booted = await bootEntraPg({ ...base, ...options }, 20, withMetrics);
      cleanups.unshift(() => booted.close());
      return booted.pool;
    };
    const pools = new Map<Impl, Queryable>();
    for (const impl of impls) {
      if (impl === 'raw') {
        const raw = new pg.Pool({ ...base, user: 'profile_raw', password: 'profile-raw', max: 20 });
        // An idle connection closed by the server at the end would otherwise crash the run.
        raw.on('error', () => undefined);
        cleanups.unshift(() => raw.end());
        pools.set(impl, raw);
      } else if (impl === 'static') {
        pools.set(impl, await boot({ user: 'profile_raw', password: 'profile-raw' }));
      } else if (impl === 'token') {
        pools.set(impl, await boot({ credential: authority }));
      } else {
        pools.set(impl, await boot({ credential: authority }, true));
      }
    }
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // The default 1 ms interval sees a 30 µs query path in too few samples.
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    const { PerformanceObserver } = await import('node:perf_hooks');
    let gcs = 0;
    let gcMs = 0;
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        gcs += 1;
        gcMs += entry.duration;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    for (const pool of pools.values()) await load(pool, 1_000); // warm: connections open, JIT settles
    const order = [...pools];
    for (let round = 1; round <= rounds; round += 1) {
      // Rotated each round, as bench/direct.ts does, so none always runs first after a pause.
      for (let i = 0; i < order.length; i += 1) {
        const [impl, pool] = order[(round - 1 + i) % order.length]!;
        gcs = 0;
        gcMs = 0;
        if (!args['no-profile']) await session.post('Profiler.start');
        const cpu0 = process.cpuUsage();
        const mem0 = process.memoryUsage().heapUsed;
        const t0 = performance.now();
        const queries = await load(pool, seconds * 1_000);
        const wallMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const name = `${args.via}-${impl}-${round}`;
        if (!args['no-profile']) {
          const { profile } = await session.post('Profiler.stop');
          await writeFile(join(args.out, `${name}.cpuprofile`), JSON.stringify(profile));
        }
        const figures = {
          impl,
          via: args.via,
          round,
          queries,
          qps: Math.round(queries / (wallMs / 1000)),
          cpuUsPerQuery: (cpu.user + cpu.system) / queries,
          gcs,
          gcMsPerKQuery: (gcMs / queries) * 1000,
          heapDeltaMB: (process.memoryUsage().heapUsed - mem0) / 2 ** 20,
        };
        await writeFile(join(args.out, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
        process.stdout.write(
          `${name.padEnd(24)} ${String(figures.qps).padStart(6)} qps  ${figures.cpuUsPerQuery.toFixed(1).padStart(6)} µs CPU/query  ` +
            `${gcs} GCs (${figures.gcMsPerKQuery.toFixed(2)} ms per 1000 queries)\n`,
        );
      }
    }
    gcObserver.disconnect();
    session.disconnect();
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    await db.stop();
  }
}

/** 32 workers send `SELECT 1` back to back until the deadline; returns how many queries completed. */
async function load(pool: Queryable, durationMs: number): Promise<number> {
  const deadline = performance.now() + durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < deadline) {
        await pool.query('SELECT 1');
        done += 1;
      }
    }),
  );
  return done;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
