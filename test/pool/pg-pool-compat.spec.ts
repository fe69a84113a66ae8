/**
 * pg.Pool compatibility: the same scenarios run against a plain `pg.Pool` and against PG_POOL on the
 * same real PostgreSQL, and must give the same observation. Each scenario also states what pg-pool
 * 3.14 documents (README / index.js), checked on the pg.Pool run, so the comparison is not vacuous.
 *
 * DELIBERATE DIFFERENCES (PG_POOL differs from pg.Pool on purpose; each side is tested on its own,
 * in an `it` named `deliberate difference: …`):
 *   1. A client released inside an open transaction (`BEGIN` then `release()`): pg.Pool hands it out
 *      again as it is (the next checkout is still in the transaction); PG_POOL never hands out a
 *      connection the server does not report idle (it rolls back or discards it).
 *   2. Queued waiters at `end()`: pg.Pool leaves them pending forever; PG_POOL answers them with an error.
 *   3. Clients checked out at `end()`: pg.Pool's `end()` waits for them forever; PG_POOL's waits at
 *      most `drainTimeoutMs`, then closes their connections and resolves.
 *   4. An SQL error from `pool.query` outside a transaction: pg.Pool releases the client with the
 *      error, so the connection is closed (a new login follows); PG_POOL keeps the connection when the
 *      server reports the session idle (transaction status `I`), as FIELD-NOTES says is safe.
 *   5. A login the server refuses: PG_POOL retries once with a fresh secret, then rejects with an
 *      EntraPgLoginRefusedError (code ENTRA_PG_LOGIN_REFUSED, the SQLSTATE in sqlState).
 *   6. `ended` right after `end()`: PG_POOL sets it when every socket has closed, not before.
 *   7. After `end()`: PG_POOL's error is an EntraPgShutdownError whose message opens with pg-pool's.
 * Each is a row of the README's table of differences from pg.Pool.
 *
 * Everything else in the table is expected to match pg.Pool exactly.
 */
import pg from 'pg';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, sleep, waitFor, type Harness } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { bounded, counters, describeError, EventLog, settledWithin } from '../support/pool-observer.js';

type Kind = 'pg.Pool' | 'PG_POOL';
type Observation = Record<string, unknown>;

/** The pool options a scenario asks for, given to both pools the same way. */
interface PoolSettings {
  max?: number;
  poolSize?: number;
  min?: number;
  idleTimeoutMillis?: number;
  connectionTimeoutMillis?: number;
  maxLifetimeSeconds?: number;
  maxUses?: number;
}

interface Ctx {
  kind: Kind;
  db: TestPostgres;
  role: string;
  log: EventLog;
  /** Terminates one backend from the admin pool (pg_terminate_backend). */
  terminate(pid: number): Promise<void>;
  /** Runs at the end of the scenario, before the pool is closed (release held clients, say). */
  defer(cleanup: () => unknown): void;
}

interface Scenario {
  name: string;
  settings?: PoolSettings;
  run: (pool: pg.Pool, ctx: Ctx) => Promise<Observation>;
  /** What pg-pool documents / does: the pg.Pool observation must equal it. */
  documented: Observation;
}

const SCENARIO_TIMEOUT_MS = 20_000;
const PASSWORD = 'compat-secret';
let roles = 0;

/**
 * Waits (bounded) for `condition`; on timeout goes on, so that the observation shows what differs
 * instead of the scenario failing with a timeout.
 */
const until = (condition: () => boolean, ms = 3_000) => waitFor(condition, ms).catch(() => undefined);

/** How a query under way at `end()` and the `end()` itself settle (each bounded), once its client is removed. */
async function queryAndEndSettled(query: Promise<pg.QueryResult>, ended: Promise<void>, log: EventLog) {
  const result = await bounded(
    query.then(
      (r) => r.rows,
      (e: unknown) => describeError(e),
    ),
    5_000,
    'query under way at end()',
  );
  const endOutcome = await settledWithin(ended, 5_000);
  await until(() => log.count('remove') === 1);
  return { result, endOutcome };
}

/** Calls `fn`, which takes a node-style callback, and resolves with the arguments it was called with (bounded). */
function callbackArgs(fn: (cb: (...args: unknown[]) => void) => unknown, ms = 5_000): Promise<{ args: unknown[]; returned: unknown; calls: number }> {
  return bounded(
    new Promise((resolve) => {
      let calls = 0;
      // Read 50 ms after the first call (never synchronously), so `returned` is set by then even when
      // the callback is called before `fn` returns.
      const returned: unknown = fn((...args: unknown[]) => {
        calls += 1;
        // A second call would be a bug: the result is read 50 ms after the first, so it shows in `calls`.
        if (calls === 1) setTimeout(() => resolve({ args, returned, calls }), 50);
      });
    }),
    ms,
    'callback was not called',
  );
}

const scenarios: Scenario[] = [
  // ---------------------------------------------------------------- events
  {
    name: 'events: connect/release cycle (connect, acquire, release with no error), then a reuse',
    settings: { max: 2 },
    async run(pool, { log }) {
      const first = await pool.connect();
      first.release();
      const afterFirst = [...log.events];
      const second = await pool.connect();
      const same = first === second;
      second.release();
      await sleep(50);
      return { afterFirst, all: log.events, sameClientReused: same, counters: counters(pool) };
    },
    documented: {
      afterFirst: ['connect c1', 'acquire c1', 'release c1 err=none'],
      all: ['connect c1', 'acquire c1', 'release c1 err=none', 'acquire c1', 'release c1 err=none'],
      sameClientReused: true,
      counters: { total: 1, idle: 1, waiting: 0, expired: 0 },
    },
  },
  {
    name: 'events: pool.query that succeeds (connect, acquire, release with err=null: pg-pool passes the query callback\'s null)',
    settings: { max: 2 },
    async run(pool, { log }) {
      const result = await pool.query('SELECT 1 AS n');
      await pool.query('SELECT 2 AS n');
      await sleep(50);
      return { events: [...log.events], rows: result.rows, counters: counters(pool) };
    },
    documented: {
      events: ['connect c1', 'acquire c1', 'release c1 err=null', 'acquire c1', 'release c1 err=null'],
      rows: [{ n: 1 }],
      counters: { total: 1, idle: 1, waiting: 0, expired: 0 },
    },
  },
  {
    name: "events: a 'connect' listener's client.query (session SET) runs before the first query on that client",
    settings: { max: 1 },
    async run(pool) {
      let connects = 0;
      pool.on('connect', (client: pg.PoolClient) => {
        (client as unknown as { count: number }).count = connects++;
        client.query("SET statement_timeout = '4321ms'").catch(() => undefined);
      });
      const first = (await pool.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0];
      const viaConnect = await pool.connect();
      const second = (await viaConnect.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0];
      // README: a property set on the client in 'connect' is there on the client pool.connect() gives.
      const count = (viaConnect as unknown as { count?: number }).count;
      viaConnect.release();
      return { first, second, count };
    },
    documented: { first: { statement_timeout: '4321ms' }, second: { statement_timeout: '4321ms' }, count: 0 },
  },
  {
    name: "events: README's acquire example (200 pool.query at once on the default max: 10 connects, 200 acquires)",
    async run(pool, { log }) {
      const results = await bounded(Promise.all(Array.from({ length: 200 }, () => pool.query('SELECT NOW()'))), 15_000, '200 queries');
      return { results: results.length, connects: log.count('connect'), acquires: log.count('acquire'), releases: log.count('release'), counters: counters(pool) };
    },
    documented: { results: 200, connects: 10, acquires: 200, releases: 200, counters: { total: 10, idle: 10, waiting: 0, expired: 0 } },
  },
  {
    name: 'events: release(err) removes the client (release event carries the error, then remove)',
    async run(pool, { log }) {
      const client = await pool.connect();
      client.release(new Error('boom'));
      const sync = counters(pool);
      await until(() => log.count('remove') === 1);
      return { events: log.events, countersRightAfterRelease: sync, counters: counters(pool) };
    },
    documented: {
      events: ['connect c1', 'acquire c1', 'release c1 err=Error(boom)', 'remove c1'],
      countersRightAfterRelease: { total: 0, idle: 0, waiting: 0, expired: 0 },
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
  },
  {
    name: 'events: release(true) removes the client (release event carries true, then remove)',
    async run(pool, { log }) {
      const client = await pool.connect();
      client.release(true);
      await until(() => log.count('remove') === 1);
      const next = await pool.connect();
      const reused = next === client;
      next.release();
      return { events: log.events, reused, counters: counters(pool) };
    },
    documented: {
      events: ['connect c1', 'acquire c1', 'release c1 err=true', 'remove c1', 'connect c2', 'acquire c2', 'release c2 err=none'],
      reused: false,
      counters: { total: 1, idle: 1, waiting: 0, expired: 0 },
    },
  },
  {
    name: "events: an idle client's error is re-emitted as the pool's 'error' (err, client), and the client is removed",
    async run(pool, { log, terminate }) {
      const client = await pool.connect();
      const pid = (client as unknown as { processID: number }).processID;
      client.release();
      let errorArgs: { sameClient: boolean; errClientIsClient: boolean; error: unknown } | undefined;
      pool.once('error', (err: Error & { client?: unknown }, c) => {
        errorArgs = { sameClient: c === client, errClientIsClient: err.client === client, error: describeError(err) };
      });
      await terminate(pid);
      await until(() => log.count('remove') === 1);
      return { events: log.events, errorArgs, counters: counters(pool) };
    },
    documented: {
      events: ['connect c1', 'acquire c1', 'release c1 err=none', 'error c1 57P01', 'remove c1'],
      errorArgs: {
        sameClient: true,
        errClientIsClient: true,
        error: { name: 'DatabaseError', message: 'terminating connection due to administrator command', code: '57P01' },
      },
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
  },
  // ---------------------------------------------------------------- counters
  {
    name: 'counters: a burst of 5 queries on max 2 (waitingCount while queued, then all idle)',
    settings: { max: 2 },
    async run(pool, { log }) {
      const burst = Array.from({ length: 5 }, (_, i) => pool.query<{ n: number }>('SELECT $1::int AS n, pg_sleep(0.3)', [i]));
      const synchronously = counters(pool);
      await until(() => log.count('acquire') === 2);
      const whileRunning = counters(pool);
      const results = await bounded(Promise.all(burst), 10_000, 'burst');
      const atEnd = counters(pool);
      return { synchronously, whileRunning, rows: results.map((r) => r.rows[0]!.n), atEnd, connects: log.count('connect') };
    },
    documented: {
      synchronously: { total: 2, idle: 0, waiting: 3, expired: 0 },
      whileRunning: { total: 2, idle: 0, waiting: 3, expired: 0 },
      rows: [0, 1, 2, 3, 4],
      atEnd: { total: 2, idle: 2, waiting: 0, expired: 0 },
      connects: 2,
    },
  },
  {
    name: 'counters: after release, then after idleTimeoutMillis (300 ms) every idle client is closed',
    settings: { max: 3, idleTimeoutMillis: 300 },
    async run(pool, { log }) {
      const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
      const checkedOut = counters(pool);
      const released = Date.now();
      for (const c of clients) c.release();
      const afterRelease = counters(pool);
      await until(() => pool.totalCount === 0 && log.count('remove') === 3);
      const elapsed = Date.now() - released;
      return { checkedOut, afterRelease, afterIdleTimeout: counters(pool), notBeforeTimeout: elapsed >= 250, removes: log.count('remove') };
    },
    documented: {
      checkedOut: { total: 3, idle: 0, waiting: 0, expired: 0 },
      afterRelease: { total: 3, idle: 3, waiting: 0, expired: 0 },
      afterIdleTimeout: { total: 0, idle: 0, waiting: 0, expired: 0 },
      notBeforeTimeout: true,
      removes: 3,
    },
  },
  {
    name: 'counters: maxLifetimeSeconds 1 (an idle client is closed at expiry; a checked-out one counts in expiredCount, closed at release)',
    settings: { max: 2, maxLifetimeSeconds: 1, idleTimeoutMillis: 30_000 },
    async run(pool, { log }) {
      const idle = await pool.connect();
      idle.release();
      const idleBefore = counters(pool);
      await until(() => pool.totalCount === 0, 4_000);
      const idleAfterExpiry = counters(pool);
      const held = await pool.connect();
      await sleep(1_300);
      const heldAfterExpiry = counters(pool);
      held.release();
      await until(() => log.count('remove') === 2);
      return {
        idleBefore,
        idleAfterExpiry,
        heldAfterExpiry,
        afterRelease: counters(pool),
        lifecycle: log.events.filter((e) => e.startsWith('connect') || e.startsWith('remove')),
      };
    },
    documented: {
      idleBefore: { total: 1, idle: 1, waiting: 0, expired: 0 },
      idleAfterExpiry: { total: 0, idle: 0, waiting: 0, expired: 0 },
      heldAfterExpiry: { total: 1, idle: 0, waiting: 0, expired: 1 },
      afterRelease: { total: 0, idle: 0, waiting: 0, expired: 0 },
      lifecycle: ['connect c1', 'remove c1', 'connect c2', 'remove c2'],
    },
  },
  {
    name: 'counters: min 2 does not pre-open, and stops idle eviction at 2',
    settings: { max: 4, min: 2, idleTimeoutMillis: 200 },
    async run(pool, { db, role }) {
      await sleep(300);
      const beforeUse = { counters: counters(pool), backends: await db.backends(role) };
      const clients = await Promise.all(Array.from({ length: 4 }, () => pool.connect()));
      for (const c of clients) c.release();
      const afterRelease = counters(pool);
      await until(() => pool.totalCount === 2);
      await sleep(500);
      return { beforeUse, afterRelease, afterIdleTimeout: counters(pool), backends: await db.backends(role) };
    },
    documented: {
      beforeUse: { counters: { total: 0, idle: 0, waiting: 0, expired: 0 }, backends: 0 },
      afterRelease: { total: 4, idle: 4, waiting: 0, expired: 0 },
      afterIdleTimeout: { total: 2, idle: 2, waiting: 0, expired: 0 },
      backends: 2,
    },
  },
  {
    name: 'counters: maxUses 2 (the client is closed after its second use)',
    settings: { max: 1, maxUses: 2 },
    async run(pool, { log }) {
      const pids: number[] = [];
      for (let i = 0; i < 3; i += 1) pids.push((await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      await until(() => log.count('remove') === 1);
      return { sameFor1And2: pids[0] === pids[1], newFor3: pids[2] !== pids[1], connects: log.count('connect'), removes: log.count('remove'), counters: counters(pool) };
    },
    documented: { sameFor1And2: true, newFor3: true, connects: 2, removes: 1, counters: { total: 1, idle: 1, waiting: 0, expired: 0 } },
  },
  {
    name: 'sizing: max 3 (a 4th checkout waits)',
    settings: { max: 3 },
    async run(pool, { defer }) {
      const clients = await Promise.all(Array.from({ length: 3 }, () => pool.connect()));
      defer(() => clients.forEach((c) => c.release()));
      const fourth = pool.connect();
      const state = await settledWithin(fourth, 300);
      const waiting = counters(pool);
      clients.shift()!.release();
      const got = await bounded(fourth, 5_000, 'fourth checkout');
      got.release();
      return { state, waiting, options: { max: pool.options.max } };
    },
    documented: { state: 'pending', waiting: { total: 3, idle: 0, waiting: 1, expired: 0 }, options: { max: 3 } },
  },
  {
    name: 'sizing: poolSize 2 is the max when max is unset',
    settings: { poolSize: 2 },
    async run(pool, { defer }) {
      const clients = await Promise.all(Array.from({ length: 2 }, () => pool.connect()));
      defer(() => clients.forEach((c) => c.release()));
      const third = pool.connect();
      const state = await settledWithin(third, 300);
      const waiting = counters(pool);
      clients.shift()!.release();
      (await bounded(third, 5_000, 'third checkout')).release();
      return { state, waiting, optionsMax: pool.options.max };
    },
    documented: { state: 'pending', waiting: { total: 2, idle: 0, waiting: 1, expired: 0 }, optionsMax: 2 },
  },
  {
    name: 'sizing: default max is 10',
    async run(pool, { defer }) {
      const clients = await Promise.all(Array.from({ length: 10 }, () => pool.connect()));
      defer(() => clients.forEach((c) => c.release()));
      const eleventh = pool.connect();
      const state = await settledWithin(eleventh, 300);
      const waiting = counters(pool);
      clients.shift()!.release();
      (await bounded(eleventh, 5_000, 'eleventh checkout')).release();
      return { state, waiting };
    },
    documented: { state: 'pending', waiting: { total: 10, idle: 0, waiting: 1, expired: 0 } },
  },
  {
    name: 'sizing: queued checkouts are served first come, first served',
    settings: { max: 1 },
    async run(pool) {
      const held = await pool.connect();
      const order: number[] = [];
      const waiters = [0, 1, 2].map((i) =>
        pool.connect().then((client) => {
          order.push(i);
          client.release();
        }),
      );
      await sleep(50);
      const waiting = pool.waitingCount;
      held.release();
      await bounded(Promise.all(waiters), 5_000, 'queued checkouts');
      return { waiting, order };
    },
    documented: { waiting: 3, order: [0, 1, 2] },
  },
  {
    name: 'options: pool.options shows the sizing and timing options as given (password not enumerable)',
    settings: { max: 4, min: 1, idleTimeoutMillis: 1234, connectionTimeoutMillis: 4321, maxLifetimeSeconds: 60, maxUses: 50 },
    async run(pool) {
      const o = pool.options as pg.PoolConfig & { maxLifetimeSeconds?: number };
      return {
        max: o.max,
        min: o.min,
        idleTimeoutMillis: o.idleTimeoutMillis,
        connectionTimeoutMillis: o.connectionTimeoutMillis,
        maxLifetimeSeconds: o.maxLifetimeSeconds,
        maxUses: String(o.maxUses),
        allowExitOnIdle: o.allowExitOnIdle,
        passwordEnumerable: Object.keys(o).includes('password'),
      };
    },
    documented: {
      max: 4,
      min: 1,
      idleTimeoutMillis: 1234,
      connectionTimeoutMillis: 4321,
      maxLifetimeSeconds: 60,
      maxUses: '50',
      allowExitOnIdle: false,
      passwordEnumerable: false,
    },
  },
  {
    name: "options: pool.options defaults (max 10, min 0, idleTimeoutMillis 10000, maxUses Infinity, maxLifetimeSeconds 0)",
    async run(pool) {
      const o = pool.options as pg.PoolConfig & { maxLifetimeSeconds?: number };
      return { max: o.max, min: o.min, idleTimeoutMillis: o.idleTimeoutMillis, maxUses: String(o.maxUses), maxLifetimeSeconds: o.maxLifetimeSeconds };
    },
    documented: { max: 10, min: 0, idleTimeoutMillis: 10000, maxUses: 'Infinity', maxLifetimeSeconds: 0 },
  },
  {
    name: "counters: connectionTimeoutMillis 200 on a full pool ('timeout exceeded when trying to connect', waiter removed)",
    settings: { max: 1, connectionTimeoutMillis: 200 },
    async run(pool, { defer }) {
      const held = await pool.connect();
      defer(() => held.release());
      async function appLevelCallerWaitingForAClient(): Promise<unknown> {
        try {
          (await pool.connect()).release();
          return 'resolved';
        } catch (e) {
          return e;
        }
      }
      const error = await bounded(appLevelCallerWaitingForAClient(), 5_000, 'connect on a full pool');
      const queryError = await bounded(
        pool.query('SELECT 1').then(
          () => 'resolved',
          (e: unknown) => e,
        ),
        5_000,
        'query on a full pool',
      );
      return {
        error: describeError(error),
        stackHasCaller: String((error as Error).stack).includes('appLevelCallerWaitingForAClient'),
        queryError: describeError(queryError),
        counters: counters(pool),
      };
    },
    documented: {
      error: { name: 'Error', message: 'timeout exceeded when trying to connect' },
      stackHasCaller: true,
      queryError: { name: 'Error', message: 'timeout exceeded when trying to connect' },
      counters: { total: 1, idle: 0, waiting: 0, expired: 0 },
    },
  },
  // ---------------------------------------------------------------- callbacks and promises
  {
    name: 'callbacks: pool.query(text, cb) calls back once with (undefined, result) and returns undefined',
    async run(pool) {
      const { args, returned, calls } = await callbackArgs((cb) => pool.query('SELECT 1 AS n', cb as never));
      const [err, result] = args as [unknown, pg.QueryResult];
      return { returned: returned === undefined ? 'undefined' : typeof returned, calls, err: err === undefined ? 'undefined' : String(err), rows: result.rows, arity: args.length };
    },
    documented: { returned: 'undefined', calls: 1, err: 'undefined', rows: [{ n: 1 }], arity: 2 },
  },
  {
    name: 'callbacks: pool.query(text, values, cb), and an SQL error through the callback',
    async run(pool) {
      const ok = await callbackArgs((cb) => pool.query('SELECT $1::int AS n', [7], cb as never));
      const bad = await callbackArgs((cb) => pool.query('SELECT $1::int / 0 AS n', [7], cb as never));
      return {
        ok: { err: ok.args[0] === undefined ? 'undefined' : String(ok.args[0]), rows: (ok.args[1] as pg.QueryResult).rows, returned: ok.returned === undefined },
        bad: { err: describeError(bad.args[0]), result: bad.args[1] === undefined ? 'undefined' : 'set', calls: bad.calls },
      };
    },
    documented: {
      ok: { err: 'undefined', rows: [{ n: 7 }], returned: true },
      bad: { err: { name: 'DatabaseError', message: 'division by zero', code: '22012' }, result: 'undefined', calls: 1 },
    },
  },
  {
    name: 'promises: pool.query(config) with text, values and rowMode',
    async run(pool) {
      const promise = pool.query({ text: 'SELECT $1::int AS n, $2::text AS t', values: [3, 'x'], rowMode: 'array' });
      const isPromise = promise instanceof Promise;
      const result = await promise;
      const named = await pool.query({ text: 'SELECT $1::int AS n', values: [4] });
      return { isPromise, rows: result.rows, fields: result.fields.map((f) => f.name), command: result.command, rowCount: result.rowCount, named: named.rows };
    },
    documented: { isPromise: true, rows: [[3, 'x']], fields: ['n', 't'], command: 'SELECT', rowCount: 1, named: [{ n: 4 }] },
  },
  {
    name: 'callbacks: pool.connect(cb) calls back with (undefined, client, done); done() releases; a second done() throws',
    async run(pool) {
      const { args, returned } = await callbackArgs((cb) => pool.connect(cb as never));
      const [err, client, done] = args as [unknown, pg.PoolClient, (e?: unknown) => void];
      const row = (await client.query('SELECT 1 AS n')).rows[0];
      const checkedOut = counters(pool);
      done();
      const afterDone = counters(pool);
      let second: unknown = 'no throw';
      try {
        done();
      } catch (e) {
        second = describeError(e);
      }
      return { returned: returned === undefined, err: err === undefined ? 'undefined' : String(err), doneType: typeof done, row, checkedOut, afterDone, second };
    },
    documented: {
      returned: true,
      err: 'undefined',
      doneType: 'function',
      row: { n: 1 },
      checkedOut: { total: 1, idle: 0, waiting: 0, expired: 0 },
      afterDone: { total: 1, idle: 1, waiting: 0, expired: 0 },
      second: { name: 'Error', message: 'Release called on client which has already been released to the pool.' },
    },
  },
  {
    name: 'promises: pool.connect() resolves with a client that has release()',
    async run(pool) {
      const promise = pool.connect();
      const isPromise = promise instanceof Promise;
      const client = await promise;
      const row = (await client.query('SELECT 2 AS n')).rows[0];
      const releaseType = typeof client.release;
      client.release();
      return { isPromise, row, releaseType, counters: counters(pool) };
    },
    documented: { isPromise: true, row: { n: 2 }, releaseType: 'function', counters: { total: 1, idle: 1, waiting: 0, expired: 0 } },
  },
  {
    name: 'callbacks: pool.query(fn) calls fn later with the "not supported" error, returns undefined, no unhandled rejection',
    async run(pool) {
      const unhandled: unknown[] = [];
      const spy = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', spy);
      try {
        let calledSync = true;
        const { args, returned, calls } = await callbackArgs((cb) => {
          const r = (pool.query as unknown as (fn: unknown) => unknown)(cb);
          calledSync = false;
          return r;
        });
        await sleep(100);
        return {
          returned: returned === undefined ? 'undefined' : Object.prototype.toString.call(returned),
          calls,
          error: describeError(args[0]),
          arity: args.length,
          calledSync,
          unhandled: unhandled.map(describeError),
          counters: counters(pool),
        };
      } finally {
        process.off('unhandledRejection', spy);
      }
    },
    documented: {
      returned: 'undefined',
      calls: 1,
      error: { name: 'Error', message: 'Passing a function as the first parameter to pool.query is not supported' },
      arity: 1,
      calledSync: false,
      unhandled: [],
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
  },
  {
    name: 'errors: pool.query(null) rejects with TypeError (promise and callback), and the client is released with it',
    settings: { max: 1 },
    async run(pool, { log }) {
      const promised = await (pool.query as unknown as (q: unknown) => Promise<unknown>)(null).then(
        () => 'resolved',
        (e: unknown) => e,
      );
      const called = await callbackArgs((cb) => (pool.query as unknown as (q: unknown, cb: unknown) => unknown)(null, cb));
      await until(() => log.count('remove') === 2);
      const after = (await pool.query('SELECT 1 AS n')).rows[0];
      return { promised: describeError(promised), called: describeError(called.args[0]), after, releases: log.events.filter((e) => e.startsWith('release')) };
    },
    documented: {
      promised: { name: 'TypeError', message: 'Client was passed a null or undefined query' },
      called: { name: 'TypeError', message: 'Client was passed a null or undefined query' },
      after: { n: 1 },
      releases: ['release c1 err=Error(Client was passed a null or undefined query)', 'release c2 err=Error(Client was passed a null or undefined query)', 'release c3 err=null'],
    },
  },
  // ---------------------------------------------------------------- errors
  {
    name: "errors: a query error keeps the caller's stack (promise callers) and DatabaseError's fields",
    async run(pool) {
      async function appLevelCallerOfPoolQuery(): Promise<unknown> {
        try {
          await pool.query('SELECT 1/0');
          return 'resolved';
        } catch (error) {
          return error;
        }
      }
      async function appLevelCallerOfClientQuery(): Promise<unknown> {
        const client = await pool.connect();
        try {
          await client.query('SELECT 1/0');
          return 'resolved';
        } catch (error) {
          return error;
        } finally {
          client.release();
        }
      }
      const e = (await appLevelCallerOfPoolQuery()) as pg.DatabaseError;
      const c = (await appLevelCallerOfClientQuery()) as pg.DatabaseError;
      return {
        poolQuery: {
          stackHasCaller: String(e.stack).includes('appLevelCallerOfPoolQuery'),
          isDatabaseError: e instanceof pg.DatabaseError,
          code: e.code,
          severity: e.severity,
          message: e.message,
          routine: typeof e.routine,
        },
        clientQuery: { stackHasCaller: String(c.stack).includes('appLevelCallerOfClientQuery'), isDatabaseError: c instanceof pg.DatabaseError, code: c.code },
      };
    },
    documented: {
      poolQuery: { stackHasCaller: true, isDatabaseError: true, code: '22012', severity: 'ERROR', message: 'division by zero', routine: 'string' },
      clientQuery: { stackHasCaller: true, isDatabaseError: true, code: '22012' },
    },
  },
  {
    name: 'errors: backend terminated mid-query (the query rejects, the client is not reused)',
    settings: { max: 1 },
    async run(pool, { log, terminate }) {
      const first = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const running = pool.query('SELECT pg_sleep(10)').then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await sleep(200);
      await terminate(first);
      const error = await bounded(running, 5_000, 'terminated query');
      await until(() => log.count('remove') === 1);
      const next = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      return { error: describeError(error), newBackend: next !== first, events: log.events };
    },
    documented: {
      error: { name: 'DatabaseError', message: 'terminating connection due to administrator command', code: '57P01' },
      newBackend: true,
      events: [
        'connect c1',
        'acquire c1',
        'release c1 err=null',
        'acquire c1',
        'release c1 err=Error(57P01)',
        'remove c1',
        'connect c2',
        'acquire c2',
        'release c2 err=null',
      ],
    },
  },
  {
    name: "errors: a checked-out client's backend terminated: client.query rejects, release(err) removes it",
    settings: { max: 1 },
    async run(pool, { log, terminate }) {
      const client = await pool.connect();
      const clientErrors: unknown[] = [];
      client.on('error', (e) => clientErrors.push(describeError(e)));
      const pid = (client as unknown as { processID: number }).processID;
      const running = client.query('SELECT pg_sleep(10)').then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await sleep(200);
      await terminate(pid);
      const error = await bounded(running, 5_000, 'terminated query');
      await sleep(200);
      client.release(error as Error);
      await until(() => log.count('remove') === 1);
      const next = await pool.connect();
      const reused = next === client;
      next.release();
      return { error: describeError(error), clientErrors, reused, poolErrors: log.count('error') };
    },
    documented: {
      error: { name: 'DatabaseError', message: 'terminating connection due to administrator command', code: '57P01' },
      // pg's Client emits 'error' on the user's listener when the socket ends under a checked-out client.
      clientErrors: [{ name: 'Error', message: 'Connection terminated unexpectedly' }],
      reused: false,
      poolErrors: 0,
    },
  },
  {
    name: 'errors: double release throws',
    async run(pool) {
      const client = await pool.connect();
      client.release();
      let thrown: unknown = 'no throw';
      try {
        client.release();
      } catch (e) {
        thrown = describeError(e);
      }
      return { thrown, counters: counters(pool) };
    },
    documented: {
      thrown: { name: 'Error', message: 'Release called on client which has already been released to the pool.' },
      counters: { total: 1, idle: 1, waiting: 0, expired: 0 },
    },
  },
  // ---------------------------------------------------------------- hygiene
  {
    name: "hygiene: pool.query('BEGIN; SELECT 1/0') fails with 22012, then 100 SELECT 1 all succeed",
    settings: { max: 2 },
    async run(pool) {
      const error = await pool.query('BEGIN; SELECT 1/0').catch((e: unknown) => e);
      let failed = 0;
      const errors: string[] = [];
      for (let i = 0; i < 100; i += 1) {
        await pool.query('SELECT 1').catch((e: Error) => {
          failed += 1;
          if (errors.length < 3) errors.push(e.message);
        });
      }
      return { error: describeError(error), failed, errors };
    },
    documented: { error: { name: 'DatabaseError', message: 'division by zero', code: '22012' }, failed: 0, errors: [] },
  },
  // ---------------------------------------------------------------- ending
  {
    name: 'ending: end(cb) calls back with no arguments and returns undefined; the pool has ended by then',
    async run(pool) {
      await pool.query('SELECT 1');
      const { args, returned, calls } = await callbackArgs((cb) => pool.end(cb as never));
      return { arity: args.length, returned: returned === undefined ? 'undefined' : Object.prototype.toString.call(returned), calls, ended: pool.ended };
    },
    documented: { arity: 0, returned: 'undefined', calls: 1, ended: true },
  },
  {
    name: "ending: end() twice rejects 'Called end on pool more than once' (promise and callback)",
    async run(pool) {
      await pool.query('SELECT 1');
      const first = pool.end();
      const second = await pool.end().then(
        () => 'resolved',
        (e: unknown) => e,
      );
      const third = await callbackArgs((cb) => pool.end(cb as never));
      return { first: await settledWithin(first, 5_000), second: describeError(second), third: describeError(third.args[0]), thirdReturned: third.returned === undefined };
    },
    documented: {
      first: 'resolved',
      second: { name: 'Error', message: 'Called end on pool more than once' },
      third: { name: 'Error', message: 'Called end on pool more than once' },
      thirdReturned: true,
    },
  },
  {
    name: 'ending: end() right after pool.query() in the same tick (pg.Pool has started the login): the query finishes, then end() resolves',
    async run(pool, { log }) {
      const query = pool.query<{ n: number }>('SELECT 5 AS n');
      const totalAtEnd = pool.totalCount;
      const ended = pool.end();
      const flags = { ending: pool.ending, ended: pool.ended };
      const { result, endOutcome } = await queryAndEndSettled(query, ended, log);
      return { totalAtEnd, flags, result, endOutcome, events: log.events, final: { ended: pool.ended, counters: counters(pool) } };
    },
    documented: {
      totalAtEnd: 1,
      flags: { ending: true, ended: false },
      result: [{ n: 5 }],
      endOutcome: 'resolved',
      events: ['connect c1', 'acquire c1', 'release c1 err=null', 'remove c1'],
      final: { ended: true, counters: { total: 0, idle: 0, waiting: 0, expired: 0 } },
    },
  },
  {
    name: 'ending: end() once the pool has begun the login for a query (totalCount 1): the query still finishes, then end() resolves',
    async run(pool, { log }) {
      const query = pool.query<{ n: number }>('SELECT 6 AS n');
      // pg.Pool counts the connecting client at once; a pool that starts its login a few turns later
      // gets a bounded chance (checked on every turn of the event loop, so the login is still under way).
      const deadline = Date.now() + 3_000;
      while (pool.totalCount === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      const loginUnderWay = log.count('connect') === 0;
      const ended = pool.end();
      const { result, endOutcome } = await queryAndEndSettled(query, ended, log);
      return { loginUnderWay, result, endOutcome, events: [...log.events], final: { ended: pool.ended, counters: counters(pool) } };
    },
    documented: {
      loginUnderWay: true,
      result: [{ n: 6 }],
      endOutcome: 'resolved',
      events: ['connect c1', 'acquire c1', 'release c1 err=null', 'remove c1'],
      final: { ended: true, counters: { total: 0, idle: 0, waiting: 0, expired: 0 } },
    },
  },
];

/** Deliberate differences: each side has its own documented observation. */
interface Deliberate {
  name: string;
  settings?: PoolSettings;
  run: (pool: pg.Pool, ctx: Ctx) => Promise<Observation>;
  pgPool: Observation;
  entra: Observation;
}

const deliberate: Deliberate[] = [
  {
    name: 'a login the server refuses (pg.Pool: its DatabaseError; PG_POOL: retried with a fresh secret, then EntraPgLoginRefusedError with the SQLSTATE in sqlState)',
    async run(pool, { db, role }) {
      await db.adminPool.query(`ALTER ROLE ${pg.escapeIdentifier(role)} NOLOGIN`);
      async function appLevelCallerOfConnect(): Promise<unknown> {
        try {
          (await pool.connect()).release();
          return 'resolved';
        } catch (error) {
          return error;
        }
      }
      const e = (await appLevelCallerOfConnect()) as Error & { code?: string };
      // The callback form: (err, undefined, done), where done may be called (README: `if (err) return done(err)`).
      const viaCallback = await callbackArgs((cb) => pool.connect(cb as never));
      const [cbErr, cbClient, cbDone] = viaCallback.args as [Error & { code?: string }, unknown, (e?: unknown) => void];
      let doneThrew = false;
      try {
        cbDone(cbErr);
      } catch {
        doneThrew = true;
      }
      await db.adminPool.query(`ALTER ROLE ${pg.escapeIdentifier(role)} LOGIN`);
      return {
        name: e.constructor.name,
        code: e.code,
        serverText: e.message.includes(`role "${role}" is not permitted to log in`),
        sqlState: (e as { sqlState?: string }).sqlState,
        stackHasCaller: String(e.stack).includes('appLevelCallerOfConnect'),
        callback: { arity: viaCallback.args.length, code: cbErr?.code, client: cbClient === undefined ? 'undefined' : 'set', doneType: typeof cbDone, doneThrew },
        counters: counters(pool),
      };
    },
    pgPool: {
      name: 'DatabaseError',
      code: '28000',
      callback: { arity: 3, code: '28000', client: 'undefined', doneType: 'function', doneThrew: false },
      serverText: true,
      stackHasCaller: true,
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
    // Retried once with a fresh secret first; then the library's error, the server's in `cause`.
    entra: {
      name: 'EntraPgLoginRefusedError',
      code: 'ENTRA_PG_LOGIN_REFUSED',
      sqlState: '28000',
      callback: { arity: 3, code: 'ENTRA_PG_LOGIN_REFUSED', client: 'undefined', doneType: 'function', doneThrew: false },
      serverText: true,
      stackHasCaller: true,
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
  },
  {
    name: 'ended right after end() (pg.Pool: true once its idle clients are let go; PG_POOL: only when every socket has closed)',
    async run(pool) {
      (await pool.connect()).release();
      const before = { ending: pool.ending, ended: pool.ended };
      const promise = pool.end();
      const sync = { ending: pool.ending, ended: pool.ended };
      const outcome = await settledWithin(promise, 5_000);
      return { before, sync, outcome, after: { ending: pool.ending, ended: pool.ended }, counters: counters(pool) };
    },
    pgPool: {
      before: { ending: false, ended: false },
      sync: { ending: true, ended: true },
      outcome: 'resolved',
      after: { ending: true, ended: true },
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
    entra: {
      before: { ending: false, ended: false },
      sync: { ending: true, ended: false },
      outcome: 'resolved',
      after: { ending: true, ended: true },
      counters: { total: 0, idle: 0, waiting: 0, expired: 0 },
    },
  },
  {
    name: "connect()/query() after end() (pg.Pool: an Error 'Cannot use a pool after calling end on the pool'; PG_POOL: EntraPgShutdownError whose message opens with those words)",
    async run(pool) {
      await pool.end();
      async function appLevelCallerAfterEnd(): Promise<unknown> {
        try {
          (await pool.connect()).release();
          return 'resolved';
        } catch (e) {
          return e;
        }
      }
      const connect = await appLevelCallerAfterEnd();
      const query = await pool.query('SELECT 1').then(
        () => 'resolved',
        (e: unknown) => e,
      );
      const connectCb = await callbackArgs((cb) => pool.connect(cb as never));
      const queryCb = await callbackArgs((cb) => pool.query('SELECT 1', cb as never));
      return {
        stackHasCaller: String((connect as Error).stack).includes('appLevelCallerAfterEnd'),
        connect: describeError(connect),
        query: describeError(query), connectCb: describeError(connectCb.args[0]), queryCb: describeError(queryCb.args[0]) };
    },
    pgPool: {
      stackHasCaller: true,
      connect: { name: 'Error', message: 'Cannot use a pool after calling end on the pool' },
      query: { name: 'Error', message: 'Cannot use a pool after calling end on the pool' },
      connectCb: { name: 'Error', message: 'Cannot use a pool after calling end on the pool' },
      queryCb: { name: 'Error', message: 'Cannot use a pool after calling end on the pool' },
    },
    entra: {
      stackHasCaller: true,
      connect: { name: 'EntraPgShutdownError', message: 'Cannot use a pool after calling end on the pool: PostgreSQL pool "default" is shutting down; it takes no new work.', code: 'ENTRA_PG_SHUTDOWN' },
      query: { name: 'EntraPgShutdownError', message: 'Cannot use a pool after calling end on the pool: PostgreSQL pool "default" is shutting down; it takes no new work.', code: 'ENTRA_PG_SHUTDOWN' },
      connectCb: { name: 'EntraPgShutdownError', message: 'Cannot use a pool after calling end on the pool: PostgreSQL pool "default" is shutting down; it takes no new work.', code: 'ENTRA_PG_SHUTDOWN' },
      queryCb: { name: 'EntraPgShutdownError', message: 'Cannot use a pool after calling end on the pool: PostgreSQL pool "default" is shutting down; it takes no new work.', code: 'ENTRA_PG_SHUTDOWN' },
    },
  },
  {
    name: 'a pool.query SQL error outside a transaction (pg.Pool releases the client with the error and closes it; PG_POOL keeps the connection, the server says it is idle)',
    settings: { max: 2 },
    async run(pool, { log }) {
      const before = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const error = await pool.query('SELECT 1/0').catch((e: unknown) => e);
      await waitFor(() => log.count('remove') === 1, 500).catch(() => undefined);
      const after = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      return { error: describeError(error), removes: log.count('remove'), sameBackend: after === before };
    },
    pgPool: { error: { name: 'DatabaseError', message: 'division by zero', code: '22012' }, removes: 1, sameBackend: false },
    entra: { error: { name: 'DatabaseError', message: 'division by zero', code: '22012' }, removes: 0, sameBackend: true },
  },
  {
    name: 'a client released inside an open transaction (pg.Pool hands it back still in the transaction; PG_POOL never does)',
    settings: { max: 1 },
    async run(pool) {
      const client = await pool.connect();
      await client.query('BEGIN');
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      client.release();
      await sleep(100);
      const next = await pool.connect();
      try {
        const { rows } = await next.query<{ open: boolean; pid: number; xact: boolean }>(
          'SELECT now() <> statement_timestamp() AS open, pg_backend_pid() AS pid, xact_start IS NULL AS xact FROM pg_stat_activity WHERE pid = pg_backend_pid()',
        );
        // Separate round trip: in the first statement of a transaction the two timestamps are equal.
        await sleep(20);
        const again = await next.query<{ open: boolean }>('SELECT now() <> statement_timestamp() AS open');
        return { nextInTransaction: again.rows[0]!.open, samePid: rows[0]!.pid === pid };
      } finally {
        await next.query('ROLLBACK').catch(() => undefined);
        next.release();
      }
    },
    pgPool: { nextInTransaction: true, samePid: true },
    // PG_POOL may keep the connection (after a ROLLBACK) or replace it; either way it is not in a transaction.
    entra: { nextInTransaction: false },
  },
  {
    name: 'queued waiters at end() (pg.Pool leaves them pending; PG_POOL rejects them)',
    settings: { max: 1 },
    async run(pool) {
      const held = await pool.connect();
      const waiter = pool.query('SELECT 1');
      waiter.catch(() => undefined);
      await sleep(50);
      const waitingBefore = pool.waitingCount;
      const ended = pool.end();
      ended.catch(() => undefined);
      const waiterAfterEnd = await settledWithin(waiter, 500);
      held.release();
      const endOutcome = await settledWithin(ended, 5_000);
      const waiterAfterRelease = await settledWithin(waiter, 300);
      return { waitingBefore, waiterAfterEnd: waiterAfterEnd.startsWith('rejected') ? 'rejected' : waiterAfterEnd, endOutcome, waiterAfterRelease: waiterAfterRelease.startsWith('rejected') ? 'rejected' : waiterAfterRelease };
    },
    pgPool: { waitingBefore: 1, waiterAfterEnd: 'pending', endOutcome: 'resolved', waiterAfterRelease: 'pending' },
    entra: { waitingBefore: 1, waiterAfterEnd: 'rejected', endOutcome: 'resolved', waiterAfterRelease: 'rejected' },
  },
  {
    name: 'clients checked out at end() (pg.Pool waits for them forever; PG_POOL at most drainTimeoutMs, 500 ms here)',
    async run(pool, { defer }) {
      const held = await pool.connect();
      held.on('error', () => undefined);
      let released = false;
      defer(() => {
        if (!released) held.release();
      });
      const started = Date.now();
      const ended = pool.end();
      const after2s = await settledWithin(ended, 2_000);
      const elapsedOk = after2s === 'resolved' ? Date.now() - started < 2_000 : null;
      released = true;
      try {
        held.release();
      } catch {
        // already released by the pool
      }
      const afterRelease = await settledWithin(ended, 5_000);
      return { after2s, elapsedOk, afterRelease };
    },
    pgPool: { after2s: 'pending', elapsedOk: null, afterRelease: 'resolved' },
    entra: { after2s: 'resolved', elapsedOk: true, afterRelease: 'resolved' },
  },
];

describe('pg.Pool compatibility: the same scenarios on pg.Pool and on PG_POOL', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db?.stop());
  beforeEach(() => {
    LogCapture.install();
  });

  /** Runs a scenario on a fresh pool of `kind` logged in as a fresh role; always closes the pool (bounded). */
  async function observe(kind: Kind, settings: PoolSettings, run: (pool: pg.Pool, ctx: Ctx) => Promise<Observation>): Promise<Observation> {
    roles += 1;
    const role = `compat_${process.pid}_${roles}`;
    await db.adminPool.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD '${PASSWORD}'`);
    const { maxUses, ...poolOptions } = settings;
    let app: Harness | undefined;
    let pool: pg.Pool;
    if (kind === 'pg.Pool') {
      pool = new pg.Pool({ host: db.host, port: db.port, database: 'postgres', user: role, password: PASSWORD, ...poolOptions, ...(maxUses ? { maxUses } : {}) });
    } else {
      app = await bootPool(db, {
        user: role,
        password: PASSWORD,
        lazyConnect: true,
        consumerEnd: 'shutdown',
        drainTimeoutMs: 500,
        pool: poolOptions,
        ...(maxUses ? { pg: { maxUses } } : {}),
      });
      // As after a default boot, the secret is cached, so a checkout starts in the caller's tick;
      // lazyConnect only keeps the boot check's connection out of the scenario's counters.
      await app.connection.refresher.get();
      pool = app.pool;
    }
    const log = new EventLog(pool);
    const cleanups: (() => unknown)[] = [];
    // No scenario may leave an unhandled rejection or an uncaught exception behind, on either pool.
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(describeError(error));
    process.on('unhandledRejection', record);
    process.on('uncaughtException', record);
    const ctx: Ctx = {
      kind,
      db,
      role,
      log,
      terminate: async (pid) => {
        await db.adminPool.query('SELECT pg_terminate_backend($1)', [pid]);
      },
      defer: (cleanup) => cleanups.push(cleanup),
    };
    try {
      // A copy, taken before the pool is closed (closing adds events to the log).
      const observation = JSON.parse(JSON.stringify(await bounded(run(pool, ctx), SCENARIO_TIMEOUT_MS, `${kind} scenario`))) as Observation;
      await sleep(20);
      expect({ kind, uncaught }).toEqual({ kind, uncaught: [] });
      return observation;
    } finally {
      for (const cleanup of cleanups) {
        try {
          cleanup();
        } catch {
          // released already
        }
      }
      if (app) await bounded(app.close(), 10_000, 'closing PG_POOL').catch(() => undefined);
      else if (!pool.ending) await bounded(pool.end(), 5_000, 'ending pg.Pool').catch(() => undefined);
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
    }
  }

  describe.each(scenarios.map((s) => [s.name, s] as const))('%s', (_name, scenario) => {
    let pgObservation: Observation | undefined;

    it('pg.Pool: behaves as pg-pool documents', async () => {
      pgObservation = await observe('pg.Pool', scenario.settings ?? {}, scenario.run);
      expect(pgObservation).toEqual(scenario.documented);
    });

    it('PG_POOL: the same observation as pg.Pool', async () => {
      const entraObservation = await observe('PG_POOL', scenario.settings ?? {}, scenario.run);
      expect(entraObservation).toEqual(pgObservation ?? scenario.documented);
    });
  });

  for (const difference of deliberate) {
    it(`deliberate difference: ${difference.name} — pg.Pool's side`, async () => {
      expect(await observe('pg.Pool', difference.settings ?? {}, difference.run)).toEqual(difference.pgPool);
    });
    it(`deliberate difference: ${difference.name} — PG_POOL's side`, async () => {
      expect(await observe('PG_POOL', difference.settings ?? {}, difference.run)).toMatchObject(difference.entra);
    });
  }
});
