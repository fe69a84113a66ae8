import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestPostgres } from '../test/support/postgres.js';
import type { DirectImpl, DirectWorkerConfig, DirectWorkerReply, DirectWorkerRequest } from './direct-worker.js';

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
 * callers queue), in alternating rounds. Each implementation runs in a process of its own
 * (bench/direct-worker.ts), as in an app; CPU per query is that process's. `via` sends every query
 * through a pooler (PgBouncer) at that address instead of straight to PostgreSQL.
 */
export async function direct(db: TestPostgres, settings: DirectSettings, via?: { host: string; port: number }): Promise<DirectFigures> {
  runs += 1;
  const rawRole = `bench_direct_raw_${runs}`;
  await db.createRole(rawRole);
  await db.adminPool.query(`ALTER ROLE ${rawRole} PASSWORD 'bench-direct'`);
  const target = { host: via?.host ?? db.host, port: via?.port ?? db.port, database: 'postgres' };
  const keys: DirectImpl[] = ['raw', 'rawControl', 'static', 'token', 'metrics'];
  const workers = new Map<DirectImpl, DirectWorker>();
  try {
    for (const impl of keys) {
      const tokenRole = `bench_direct_tokens_${impl.toLowerCase()}_${runs}`;
      await db.createRole(tokenRole);
      workers.set(
        impl,
        await DirectWorker.start({
          impl,
          target,
          admin: db.admin,
          passwordRole: { user: rawRole, password: 'bench-direct' },
          tokenRole,
          poolMax: settings.poolMax,
          idleTimeoutMillis: IDLE_TIMEOUT_MS,
          concurrency: settings.concurrency,
        }),
      );
    }
    const samples = Object.fromEntries(keys.map((key) => [key, [] as Array<{ qps: number; cpuUs: number }>])) as Record<DirectImpl, Array<{ qps: number; cpuUs: number }>>;
    const opened = Object.fromEntries(keys.map((key) => [key, 0])) as Record<DirectImpl, number>;
    for (let round = 0; round < settings.rounds; round += 1) {
      // Rotate the order so none always runs first after a pause.
      for (let i = 0; i < keys.length; i += 1) {
        const key = keys[(round + i) % keys.length]!;
        const result = await workers.get(key)!.run(settings.queries);
        samples[key].push({ qps: result.qps, cpuUs: result.cpuUs });
        opened[key] = result.opened;
      }
    }
    return summarize(settings, via, samples, opened);
  } finally {
    await Promise.all([...workers.values()].map((worker) => worker.close()));
  }
}

/** How long a worker may take to boot and warm, or to run one round, before the bench gives up. */
const WORKER_TIMEOUT_MS = 120_000;

/** A bench/direct-worker.ts process and its one request at a time. */
class DirectWorker {
  private constructor(private readonly child: ChildProcess) {}

  static async start(config: DirectWorkerConfig): Promise<DirectWorker> {
    const child = fork(join(dirname(fileURLToPath(import.meta.url)), 'direct-worker.js'), [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const worker = new DirectWorker(child);
    const reply = await worker.next(`booting ${config.impl}`);
    if (!('ready' in reply)) throw new Error(`bench worker ${config.impl} did not start: ${JSON.stringify(reply)}`);
    return worker;
  }

  async run(queries: number): Promise<{ qps: number; cpuUs: number; opened: number }> {
    const reply = this.next(`a round of ${queries} queries`);
    this.child.send({ run: queries } satisfies DirectWorkerRequest);
    const result = await reply;
    if (!('qps' in result)) throw new Error(`bench worker failed: ${JSON.stringify(result)}`);
    return result;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.connected) this.child.send({ close: true } satisfies DirectWorkerRequest);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** The worker's next message, an exit, or a timeout, whichever comes first. */
  private next(what: string): Promise<DirectWorkerReply> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      const onMessage = (message: DirectWorkerReply) => {
        done();
        resolve(message);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`bench worker exited (code ${code}) during ${what}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`bench worker gave no answer within ${WORKER_TIMEOUT_MS} ms during ${what}`));
      }, WORKER_TIMEOUT_MS);
      this.child.once('message', onMessage);
      this.child.once('exit', onExit);
    });
  }
}

function summarize(
  settings: DirectSettings,
  via: { host: string; port: number } | undefined,
  samples: Record<DirectImpl, Array<{ qps: number; cpuUs: number }>>,
  opened: Record<DirectImpl, number>,
): DirectFigures {
  const mean = (list: Array<{ qps: number; cpuUs: number }>, pick: 'qps' | 'cpuUs') => list.reduce((a, s) => a + s[pick], 0) / list.length;
  const rawQps = mean(samples.raw, 'qps');
  const rawCpu = mean(samples.raw, 'cpuUs');
  // A burst of other work on the shared machine lands in a few measurements, not all: ratios are
  // taken within a round (raw ran minutes-apart rounds on different machine load otherwise) and
  // their median is reported, so one disturbed round does not move the result.
  const figures = (key: Exclude<DirectImpl, 'raw'>): Variant => {
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
