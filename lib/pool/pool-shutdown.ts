import { loginGateOf } from './connect-retry.js';
import { destroySocket, isClosing, isLoggedIn } from './pg-internals.js';
import type { PoolGenerations } from './pool-generations.js';
import { type EntraPgPoolDependencies, type EntraPgPoolHost, type PoolChanges, shutdownError } from './pool-types.js';
import type { WaiterList } from './pool-checkout.js';

// Closing the pool once, every caller answered and every socket closed within bounds.

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

  /**
   * A second call returns the first call's promise. `finishLogins` (a consumer's `end()`, as in
   * pg-pool): a caller whose connection is logging in gets it, and its login is waited for within
   * the drain timeout; the module's own shutdown cuts logins off.
   */
  shutdown(drainTimeoutMs: number, finishLogins = false): Promise<void> {
    this.closing ??= this.closeEverything(drainTimeoutMs, finishLogins);
    return this.closing;
  }

  private async closeEverything(drainTimeoutMs: number, finishLogins: boolean): Promise<void> {
    const generations = this.generations;
    (this.host as { ending: boolean }).ending = true;
    this.deps.refresher.stop();
    // Logins waiting for the server to come back go now, and find the pool ending.
    loginGateOf(this.host).close();
    generations.dns.stop();
    this.waiters.failAll(shutdownError(this.deps.connectionName), finishLogins ? (waiter) => waiter.opening && waiter.pool !== undefined : undefined);
    // Idle connections close now; checked-out ones close as they are released.
    for (const { pool } of generations.all()) if (!pool.ending) pool.end().catch(() => undefined);
    const busy = generations.checkedOut;
    if (busy > 0) {
      this.deps.logger.log(`Shutting down: waiting up to ${drainTimeoutMs} ms for ${busy} checked-out client(s)`);
    }
    const drained = await this.changes.waitFor(() => generations.checkedOut <= 0 && this.waiters.isEmpty(), drainTimeoutMs);
    // A spared login still under way is cut off below; its caller is answered now.
    this.waiters.failAll(shutdownError(this.deps.connectionName));
    if (!drained) {
      this.deps.logger.warn(
        `Shutting down: ${generations.checkedOut} client(s) still checked out after ${drainTimeoutMs} ms; closing their connections`,
      );
    }
    // What is still open now is checked out past the deadline, or a login under way. A login is cut
    // off (pg's end() on a half-open handshake waits for the server); a session says goodbye.
    for (const client of generations.openSockets()) {
      if (!isLoggedIn(client)) destroySocket(client);
      else if (!isClosing(client)) void client.end().catch(() => undefined);
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

