import type pg from 'pg';

/** Rejects with a clear message when `work` has not settled within `ms` (every wait in a test is bounded). */
export async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `promise` has settled within `ms`, and how (without failing when it has not). */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<'pending' | 'resolved' | `rejected: ${string}`> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved' as const,
        (error: unknown) => `rejected: ${(error as Error)?.message}` as const,
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A short, comparable description of an error (class, message, code). */
export function describeError(error: unknown): { name: string; message: string; code?: string } | string {
  if (!(error instanceof Error)) return `not an Error: ${String(error)}`;
  const code = (error as { code?: string }).code;
  return code === undefined ? { name: error.constructor.name, message: error.message } : { name: error.constructor.name, message: error.message, code };
}

/**
 * Records a pool's `connect`, `acquire`, `release`, `remove` and `error` events as strings
 * (`acquire c1`, `release c1 err=none`), numbering clients by first appearance so that two pools'
 * sequences compare. Always listens to `error`, so an idle client's error never crashes the run.
 */
export class EventLog {
  readonly events: string[] = [];
  private readonly ids = new Map<object, string>();

  constructor(pool: pg.Pool) {
    pool.on('connect', (client) => this.events.push(`connect ${this.id(client)}`));
    pool.on('acquire', (client) => this.events.push(`acquire ${this.id(client)}`));
    pool.on('release', (err: unknown, client: pg.PoolClient) => this.events.push(`release ${this.id(client)} err=${EventLog.arg(err)}`));
    pool.on('remove', (client) => this.events.push(`remove ${this.id(client)}`));
    pool.on('error', (err: Error & { code?: string }, client) => this.events.push(`error ${this.id(client)} ${err.code ?? err.message}`));
  }

  id(client: object | undefined): string {
    if (!client) return 'c?';
    let id = this.ids.get(client);
    if (!id) {
      id = `c${this.ids.size + 1}`;
      this.ids.set(client, id);
    }
    return id;
  }

  count(prefix: string): number {
    return this.events.filter((event) => event.startsWith(prefix)).length;
  }

  private static arg(err: unknown): string {
    if (err === undefined) return 'none';
    if (err instanceof Error) return `Error(${(err as { code?: string }).code ?? err.message})`;
    return String(err);
  }
}

/** pg-pool's four counters, as one comparable object. */
export function counters(pool: pg.Pool): { total: number; idle: number; waiting: number; expired: number } {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, expired: pool.expiredCount };
}
