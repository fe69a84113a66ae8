import { loginGateOf } from './connect-retry.js';
import type { EntraPgPoolDependencies } from './entra-pg-pool-dependencies.interface.js';
import type { PoolChanges } from './pool-changes.js';
import type { PoolGenerations } from './pool-generations.js';
import type { EntraPgPoolHost } from './pool-host.interface.js';
import { shutdownError } from './shutdown-error.js';
import { destroySocket } from './tracked-client.js';
import type { WaiterList } from './waiter-list.js';

/** After the drain timeout, how long closed sockets get to report closing before we stop waiting. */
const SOCKET_CLOSE_GRACE_MS = 5_000;

/**
 * Closes the pool once: answers every waiting caller, gives checked-out clients the drain timeout,
 * then closes what is still open (logins under way included) and waits, bounded, for the sockets.
 */
export class PoolShutdown {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly host: EntraPgPoolHost,
    private readonly deps: EntraPgPoolDependencies,
    private readonly generations: PoolGenerations,
    private readonly waiters: WaiterList,
    private readonly changes: PoolChanges,
  ) {}

  /** A second call returns the first call's promise. */
  shutdown(drainTimeoutMs: number): Promise<void> {
    this.closing ??= this.closeEverything(drainTimeoutMs);
    return this.closing;
  }

  private async closeEverything(drainTimeoutMs: number): Promise<void> {
    const generations = this.generations;
    (this.host as { ending: boolean }).ending = true;
    this.deps.refresher.stop();
    // Logins waiting for the server to come back go now, and find the pool ending.
    loginGateOf(this.host).close();
    generations.dns.stop();
    this.waiters.failAll(shutdownError(this.deps.connectionName));
    // Idle connections close now; checked-out ones close as they are released.
    for (const { pool } of generations.all()) if (!pool.ending) pool.end().catch(() => undefined);
    const busy = generations.checkedOut;
    if (busy > 0) {
      this.deps.logger.log(`Shutting down: waiting up to ${drainTimeoutMs} ms for ${busy} checked-out client(s)`);
    }
    const drained = await this.changes.waitFor(() => generations.checkedOut <= 0, drainTimeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `Shutting down: ${generations.checkedOut} client(s) still checked out after ${drainTimeoutMs} ms; closing their connections`,
      );
    }
    // What is still open now is checked out past the deadline, or a login under way. A login is cut
    // off (pg's end() on a half-open handshake waits for the server); a session says goodbye.
    for (const client of generations.openSockets()) {
      const state = client as unknown as { _connected?: boolean; _ending?: boolean };
      if (!state._connected) destroySocket(client);
      else if (!state._ending) void client.end().catch(() => undefined);
    }
    const allClosed = () => generations.openSockets().length === 0;
    const closed = await this.changes.waitFor(allClosed, SOCKET_CLOSE_GRACE_MS);
    if (!closed) {
      for (const client of generations.openSockets()) destroySocket(client);
      await this.changes.waitFor(allClosed, SOCKET_CLOSE_GRACE_MS);
    }
    (this.host as { ended: boolean }).ended = true;
    this.deps.logger.log('Pool closed');
  }
}
