import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { bootEntraPg } from './boot-entra-pg.js';
import { queryRound } from './load.js';

/**
 * The pool path's own JavaScript, without a socket: pg.Client's connect() and query() are replaced
 * by ones that answer on the next turn of the event loop (setImmediate, as a socket read would),
 * so what is left per query is pg-pool, the wrapper and promises. On two shared cores the socket
 * write is half the CPU of a real query and its cost swings with the other processes; this figure
 * does not, so a change of a fraction of a microsecond shows. Never used by tests or the app.
 *
 *   npm run build && npm run build:bench && node bench/dist/bench/pool-path.js [--queries 200000] [--rounds 7]
 */
const { values: args } = parseArgs({
  options: {
    queries: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '7' },
  },
});

interface Queryable {
  query(sql: string): Promise<unknown>;
}

const RESULT = { command: 'SELECT', rowCount: 1, oid: 0, fields: [], rows: [{ '?column?': 1 }] };

function fakeClient(): void {
  const proto = pg.Client.prototype as unknown as Record<string, unknown>;
  // As after a real login: connected, and the server's last ReadyForQuery said "idle" (the pool
  // keeps a released connection only then). The fake query never changes either.
  proto.connect = function (this: { _connected: boolean; readyForQuery: boolean; _txStatus: string }, callback?: (error?: Error) => void) {
    this._connected = true;
    this.readyForQuery = true;
    this._txStatus = 'I';
    if (!callback) return Promise.resolve(this);
    process.nextTick(callback);
    return undefined;
  };
  proto.query = function (_text: unknown, values?: unknown, callback?: unknown) {
    const done = (typeof values === 'function' ? values : callback) as ((error: Error | null, result: unknown) => void) | undefined;
    if (!done) return new Promise((resolve) => setImmediate(resolve, RESULT));
    setImmediate(done, null, RESULT);
    return undefined;
  };
  // pg-pool refs a client it takes from idle; on a never-connected socket that would queue a listener.
  proto.ref = () => undefined;
  proto.unref = () => undefined;
  proto.end = function (this: pg.Client & { _ending: boolean }, callback?: () => void) {
    this._ending = true;
    process.nextTick(() => {
      this.emit('end');
      callback?.();
    });
    return callback ? undefined : Promise.resolve();
  };
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  fakeClient();
  const queries = Math.min(5_000_000, Math.max(1_000, Number(args.queries)));
  const rounds = Math.min(50, Math.max(1, Number(args.rounds)));
  const base = { host: '127.0.0.1', port: 1, database: 'postgres', user: 'bench' };
  // A token that outlives the run; no identity service is asked.
  const credential = { getToken: async () => ({ token: 'bench-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const raw = new pg.Pool({ ...base, password: 'x', max: 20 });
  const token = await bootEntraPg({ ...base, credential }, 20);
  const withMetrics = await bootEntraPg({ ...base, credential }, 20, true);
  const impls: Record<string, Queryable> = { raw, token: token.pool, metrics: withMetrics.pool };
  const keys = Object.keys(impls);
  const samples: Record<string, number[]> = Object.fromEntries(keys.map((key) => [key, []]));
  for (const key of keys) await measure(impls[key]!, queries / 4);
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < keys.length; i += 1) {
      const key = keys[(round + i) % keys.length]!;
      samples[key]!.push(await measure(impls[key]!, queries));
    }
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  const rawUs = median(samples.raw!);
  for (const key of keys) {
    const us = median(samples[key]!);
    process.stdout.write(
      `${key.padEnd(8)} ${us.toFixed(2).padStart(6)} µs CPU/query (median of ${rounds}; ${samples[key]!.map((s) => s.toFixed(2)).join(' ')})  ` +
        `${(us - rawUs).toFixed(2).padStart(5)} µs over raw\n`,
    );
  }
  await raw.end();
  await token.close();
  await withMetrics.close();
}

/** 32 workers share `queries` queries; returns CPU µs per query. */
async function measure(pool: Queryable, queries: number): Promise<number> {
  return (await queryRound(pool, queries, 32)).cpuUs;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
