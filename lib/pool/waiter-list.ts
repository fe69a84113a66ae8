import type pg from 'pg';

/** How a waiting caller is answered: a client, or an error. */
export type AcquireCallback = (error: Error | undefined, client?: pg.PoolClient) => void;

/** A caller waiting for a connection (or for the secret its login needs); shutdown answers it if nothing else has. */
export interface Waiter {
  settled: boolean;
  callback: AcquireCallback;
  /** The generation's pg.Pool it is queued on; undefined while it waits for a secret. */
  pool: pg.Pool | undefined;
  /** Whether its login has already been retried with a new secret. */
  retried: boolean;
  /** pg-pool opens a connection for this caller (it found no idle one and had room). */
  opening: boolean;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * The callers waiting for a connection, as an intrusive doubly linked list. Every query joins and
 * leaves it; a Set keyed by fresh objects costs more than the rest of the pool wrapper.
 */
export class WaiterList {
  private head: Waiter | undefined;

  add(callback: AcquireCallback, pool: pg.Pool | undefined, retried: boolean, opening = false): Waiter {
    const waiter: Waiter = { settled: false, callback, pool, retried, opening, prev: undefined, next: this.head };
    if (this.head) this.head.prev = waiter;
    this.head = waiter;
    return waiter;
  }

  /** Unlinks a waiter; a no-op for one already removed. */
  remove(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else if (this.head === waiter) this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
  }

  /** Settles and removes the waiters queued on `pool`, oldest first, and returns them. */
  takeQueuedOn(pool: pg.Pool): Waiter[] {
    const taken: Waiter[] = [];
    for (let waiter = this.head; waiter; ) {
      const next = waiter.next;
      if (waiter.pool === pool && !waiter.settled) {
        this.remove(waiter);
        waiter.settled = true;
        taken.unshift(waiter);
      }
      waiter = next;
    }
    return taken;
  }

  /** Whether no caller is waiting. */
  isEmpty(): boolean {
    return this.head === undefined;
  }

  /**
   * Settles and removes every waiter with `error`, oldest first, except those `spare` keeps. A
   * callback that throws does not stop the others from being answered; its error is re-raised on
   * the next tick, as pg would.
   */
  failAll(error: Error, spare?: (waiter: Waiter) => boolean): void {
    const all: Waiter[] = [];
    for (let waiter = this.head; waiter; waiter = waiter.next) if (!spare?.(waiter)) all.push(waiter);
    for (const waiter of all) this.remove(waiter);
    for (let i = all.length - 1; i >= 0; i -= 1) {
      const waiter = all[i]!;
      if (waiter.settled) continue;
      waiter.settled = true;
      try {
        waiter.callback(error);
      } catch (thrown) {
        process.nextTick(() => {
          throw thrown;
        });
      }
    }
  }
}
