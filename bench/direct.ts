import { Test } from '@nestjs/testing';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { EntraPgModule, type EntraPgModuleOptions, type EntraPgPool, PG_POOL } from 'nestjs-entra-pg';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import pg from 'pg';
import type { TestPostgres } from '../test/support/postgres.js';

interface Variant {
  qps: number;
  cpuUsPerQuery: number;
  /** Median over rounds of this round's figure divided by raw's in the same round. */
  qpsRatio: number;
  cpuRatio: number;
  /** 95 % confidence interval of each median (distribution-free, from the rounds' order statistics). */
  qpsRatioCi: [number, number];
  cpuRatioCi: [number, number];
  /** Each round's ratios, in round order. */
  qpsRatios: number[];
  cpuRatios: number[];
  /** Connections opened during the measured rounds: 0 when every round ran on a warm pool. */
  connectionsOpened: number;
}

export interface DirectFigures {
  /** Where the queries went: straight to PostgreSQL, or through PgBouncer in transaction mode. */
  path: 'postgres' | 'pgbouncer';
  rounds: number;
  queriesPerRound: number;
  concurrency: number;
  poolMax: number;
  rawQps: number;
  rawCpuUsPerQuery: number;
  rawConnectionsOpened: number;
  /**
   * A second raw pg.Pool measured like the others: what "no difference" looks like on this machine
   * in this run, so a ratio is read against the bench's own noise and any bias of its order.
   */
  rawControl: Variant;
  /** nestjs-entra-pg with a static password, with a token credential (one long-lived token), and the latter with OpenTelemetry metrics on. */
  staticPassword: Variant;
  tokenSource: Variant;
  tokenSourceWithMetrics: Variant;
}

interface Queryable {
  query(sql: string): Promise<unknown>;
  on(event: 'connect', listener: () => void): unknown;
}

export interface DirectSettings {
  rounds: number;
  queries: number;
  concurrency: number;
  poolMax: number;
}

let runs = 0;

/**
 * Longer than the other implementations' rounds together: with pg's 10 s default, a pool idle
 * while the other three run was closed before some of its rounds and not others, so a round
 * measured logins (SCRAM costs milliseconds of CPU each) instead of the query path.
 */
const IDLE_TIMEOUT_MS = 600_000;

/**
 * The pool wrapper's own cost, without the login relay: raw pg.Pool, nestjs-entra-pg with a static
 * password, with a token credential, and with a token credential and metrics recorded by a
 * MeterProvider (its exporter never called during the rounds), more workers than connections (so
 * callers queue), in alternating rounds. `via` sends every query through a pooler (PgBouncer) at
 * that address instead of straight to PostgreSQL. CPU per query of this process is the steadier
 * figure on two shared cores.
 */
export async function direct(db: TestPostgres, settings: DirectSettings, via?: { host: string; port: number }): Promise<DirectFigures> {
  runs += 1;
  const rawRole = `bench_direct_raw_${runs}`;
  const tokenRole = `bench_direct_token_${runs}`;
  await db.createRole(rawRole);
  await db.createRole(tokenRole);
  await db.adminPool.query(`ALTER ROLE ${rawRole} PASSWORD 'bench-direct'`);
  const base = { host: via?.host ?? db.host, port: via?.port ?? db.port, database: 'postgres' };
  const raw = new pg.Pool({ ...base, user: rawRole, password: 'bench-direct', max: settings.poolMax, idleTimeoutMillis: IDLE_TIMEOUT_MS });
  const authority = new LocalTokenAuthority({ admin: db.admin, role: tokenRole, lifetimeMs: 3_600_000, cacheForMs: 3_600_000 });
  const boot = async (options: EntraPgModuleOptions) => {
    const module = await Test.createTestingModule({ imports: [EntraPgModule.forRoot({ ...base, pool: { max: settings.poolMax, idleTimeoutMillis: IDLE_TIMEOUT_MS }, ...options })] })
      .setLogger(false as never)
      .compile();
    await module.init();
    return { pool: module.get<EntraPgPool>(PG_POOL), close: () => module.close() };
  };
  const staticPassword = await boot({ user: rawRole, password: 'bench-direct' });
  const tokenSource = await boot({ credential: authority });
  // Metrics start only where a MeterProvider is registered when the module boots.
  const provider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 }),
    ],
  });
  metrics.setGlobalMeterProvider(provider);
  const withMetrics = await boot({ credential: authority });
  const measure = async (pool: Queryable) => {
    let left = settings.queries;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: settings.concurrency }, async () => {
        while (left-- > 0) await pool.query('SELECT 1');
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { qps: settings.queries / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / settings.queries };
  };
  const rawControl = new pg.Pool({ ...base, user: rawRole, password: 'bench-direct', max: settings.poolMax, idleTimeoutMillis: IDLE_TIMEOUT_MS });
  const impls = { raw, rawControl, static: staticPassword.pool, token: tokenSource.pool, metrics: withMetrics.pool } satisfies Record<string, Queryable>;
  type Key = keyof typeof impls;
  const keys = Object.keys(impls) as Key[];
  for (const key of keys) await measure(impls[key]);
  const opened = Object.fromEntries(keys.map((key) => [key, 0])) as Record<Key, number>;
  for (const key of keys) impls[key].on('connect', () => (opened[key] += 1));
  const samples = Object.fromEntries(keys.map((key) => [key, [] as Array<{ qps: number; cpuUs: number }>])) as Record<Key, Array<{ qps: number; cpuUs: number }>>;
  for (let round = 0; round < settings.rounds; round += 1) {
    // Rotate the order so none always runs first after a pause.
    for (let i = 0; i < keys.length; i += 1) {
      const key = keys[(round + i) % keys.length]!;
      samples[key].push(await measure(impls[key]));
    }
  }
  await raw.end();
  await rawControl.end();
  await staticPassword.close();
  await tokenSource.close();
  await withMetrics.close();
  metrics.disable();
  await provider.shutdown();
  await authority.close();
  const mean = (list: Array<{ qps: number; cpuUs: number }>, pick: 'qps' | 'cpuUs') => list.reduce((a, s) => a + s[pick], 0) / list.length;
  const rawQps = mean(samples.raw, 'qps');
  const rawCpu = mean(samples.raw, 'cpuUs');
  // A burst of other work on the shared machine lands in a few measurements, not all: ratios are
  // taken within a round (raw ran minutes-apart rounds on different machine load otherwise) and
  // their median is reported, so one disturbed round does not move the result.
  const figures = (key: Exclude<Key, 'raw'>): Variant => {
    const qpsRatios = samples[key].map((s, round) => s.qps / samples.raw[round]!.qps);
    const cpuRatios = samples[key].map((s, round) => s.cpuUs / samples.raw[round]!.cpuUs);
    return {
      qps: mean(samples[key], 'qps'),
      cpuUsPerQuery: mean(samples[key], 'cpuUs'),
      qpsRatio: median(qpsRatios),
      cpuRatio: median(cpuRatios),
      qpsRatioCi: medianInterval(qpsRatios),
      cpuRatioCi: medianInterval(cpuRatios),
      qpsRatios,
      cpuRatios,
      connectionsOpened: opened[key],
    };
  };
  return {
    path: via ? 'pgbouncer' : 'postgres',
    rounds: settings.rounds,
    queriesPerRound: settings.queries,
    concurrency: settings.concurrency,
    poolMax: settings.poolMax,
    rawQps,
    rawCpuUsPerQuery: rawCpu,
    rawConnectionsOpened: opened.raw,
    rawControl: figures('rawControl'),
    staticPassword: figures('static'),
    tokenSource: figures('token'),
    tokenSourceWithMetrics: figures('metrics'),
  };
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A 95 % confidence interval for the median of `list`, with no assumption about how the rounds
 * are distributed: the order statistics of rank ⌊n/2 − 0.98·√n⌋ and ⌈1 + n/2 + 0.98·√n⌉ (the
 * normal approximation of the binomial).
 * With the machine's ±10 % round-to-round noise, this is what says whether 0.98 × is met or not.
 */
function medianInterval(list: number[]): [number, number] {
  const sorted = [...list].sort((a, b) => a - b);
  const n = sorted.length;
  const half = 0.98 * Math.sqrt(n);
  const low = Math.max(0, Math.floor(n / 2 - half) - 1);
  const high = Math.min(n - 1, Math.ceil(1 + n / 2 + half) - 1);
  return [sorted[low]!, sorted[high]!];
}
