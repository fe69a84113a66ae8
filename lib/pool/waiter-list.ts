/** A caller waiting for a connection; shutdown answers it if pg-pool has not yet. */
export interface Waiter {
  settled: boolean;
  fail: (error: Error) => void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * The callers waiting for a connection, as an intrusive doubly linked list. Every query under load
 * joins and leaves it; a Set keyed by fresh objects costs more than the rest of the pool wrapper.
 */
export class WaiterList {
  private head: Waiter | undefined;

  add(fail: (error: Error) => void): Waiter {
    const waiter: Waiter = { settled: false, fail, prev: undefined, next: this.head };
    if (this.head) this.head.prev = waiter;
    this.head = waiter;
    return waiter;
  }

  remove(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else if (this.head === waiter) this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
  }

  /** Settles and removes every waiter with `error`. */
  failAll(error: Error): void {
    let waiter = this.head;
    this.head = undefined;
    while (waiter) {
      const next = waiter.next;
      waiter.prev = undefined;
      waiter.next = undefined;
      waiter.settled = true;
      waiter.fail(error);
      waiter = next;
    }
  }
}
