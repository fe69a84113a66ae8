/**
 * Lets shutdown wait for the pool to reach a state (all clients released, all sockets closed):
 * releases and closed sockets call `changed()`, and each waiter checks its condition then.
 */
export class PoolChanges {
  private readonly listeners = new Set<() => void>();

  /** Resolves true once `condition` holds, false if `timeoutMs` passes first. */
  waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        finish(true);
      };
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.listeners.add(check);
    });
  }

  changed(): void {
    // Runs on every release; only shutdown registers listeners, so the common case allocates nothing.
    if (this.listeners.size === 0) return;
    for (const listener of [...this.listeners]) listener();
  }
}
