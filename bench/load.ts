/** Latency samples and failures of one load phase. */
export interface PhaseRecord {
  startedAt: number;
  durationMs: number;
  /** Latency (ms) of every query, failed ones included; a packed array, so a long phase stays small. */
  latencies: number[];
  /** Worst latency (ms) in each `bucketMs` slice of the phase, for the chart. */
  bucketMax: number[];
  bucketMs: number;
  /** ms since start of every failed query. */
  failures: number[];
  errorMessages: string[];
  /** ms since start at which a token request was made. */
  tokenRequestTimes: number[];
}

/**
 * `concurrency` workers send `sql` back to back for `durationMs`. Bounded by the duration; every
 * query is timed; a failure is counted, never retried.
 */
export async function runLoad(
  query: (sql: string) => Promise<unknown>,
  options: { durationMs: number; concurrency: number; sql: string; tokenRequests: () => number },
): Promise<PhaseRecord> {
  const startedAt = performance.now();
  const deadline = startedAt + options.durationMs;
  const record: PhaseRecord = {
    startedAt: Date.now(),
    durationMs: options.durationMs,
    latencies: [],
    bucketMax: [],
    bucketMs: 250,
    failures: [],
    errorMessages: [],
    tokenRequestTimes: [],
  };
  let lastRequests = options.tokenRequests();
  const watcher = setInterval(() => {
    const now = options.tokenRequests();
    for (let i = lastRequests; i < now; i += 1) record.tokenRequestTimes.push(performance.now() - startedAt);
    lastRequests = now;
  }, 50);
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        let failed = false;
        try {
          await query(options.sql);
        } catch (error) {
          failed = true;
          record.failures.push(t0 - startedAt);
          if (record.errorMessages.length < 3) record.errorMessages.push((error as Error).message.slice(0, 160));
        }
        // A failed query kept its caller waiting too: its time counts in the latency figures.
        const latency = performance.now() - t0;
        record.latencies.push(latency);
        const bucket = Math.floor((t0 - startedAt) / record.bucketMs);
        if (!(record.bucketMax[bucket]! >= latency)) record.bucketMax[bucket] = latency;
        // A failing implementation must not turn the loop into a spin.
        if (failed) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }),
  );
  clearInterval(watcher);
  record.durationMs = performance.now() - startedAt;
  return record;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/**
 * `concurrency` workers share `queries` queries of `SELECT 1`, back to back: the unit of the
 * alternating rounds. Returns throughput and this process's CPU per query.
 */
export async function queryRound(pool: { query(sql: string): Promise<unknown> }, queries: number, concurrency: number): Promise<{ qps: number; cpuUs: number }> {
  let left = queries;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await pool.query('SELECT 1');
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { qps: queries / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / queries };
}
