import { sleep } from './harness.js';

/** One query of a steady load: when it started and ended, what it answered, how it failed. */
export interface LoadOutcome<T> {
  startedAt: number;
  endedAt: number;
  value: T | undefined;
  error: Error | undefined;
}

export interface SteadyLoad<T> {
  readonly outcomes: LoadOutcome<T>[];
  /** Queries started and not yet answered. */
  inFlight(): number;
  /** Stops issuing queries and waits for those under way. */
  stop(): Promise<void>;
}

/** `workers` callers each running `query` in a loop (5 ms apart) until stopped, recording every outcome. */
export function steadyLoad<T>(query: () => Promise<T>, workers: number): SteadyLoad<T> {
  const outcomes: LoadOutcome<T>[] = [];
  let inFlight = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const startedAt = Date.now();
      inFlight += 1;
      const [value, error] = await query().then(
        (answer): [T, undefined] => [answer, undefined],
        (failure: unknown): [undefined, Error] => [undefined, failure as Error],
      );
      inFlight -= 1;
      outcomes.push({ startedAt, endedAt: Date.now(), value, error });
      await sleep(5);
    }
  };
  const all = Array.from({ length: workers }, worker);
  return {
    outcomes,
    inFlight: () => inFlight,
    stop: async () => {
      running = false;
      await Promise.all(all);
    },
  };
}
