import pg from 'pg';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import { type Generation, RetiredGenerationError } from './pool-generation.js';
import type { EntraPgPoolHost } from './pool-host.interface.js';

/**
 * The pg.Client class a generation's pg.Pool creates: it opens no socket before the secret is
 * cached, closes the socket when the password cannot be had, and keeps the generation's set of
 * open sockets (so shutdown and `pool.max` see logins under way too).
 */
export function trackedClientClass(
  generation: Generation,
  refresher: CredentialRefresher,
  host: EntraPgPoolHost,
  onClosed: () => void,
): typeof pg.Client {
  const sockets = generation.sockets;
  return class TrackedClient extends pg.Client {
    constructor(clientConfig?: string | pg.ClientConfig) {
      super(clientConfig);
      const self = this as unknown as { password?: unknown };
      const password = self.password;
      if (typeof password === 'function') {
        // pg leaves the socket half-open when the password function fails, and the server
        // keeps the backend in authentication for a minute; close it instead.
        self.password = (...args: unknown[]) =>
          Promise.resolve()
            .then(() => password(...args))
            .catch((error: unknown) => {
              destroySocket(this as pg.Client);
              throw error;
            });
      }
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
      if (!callback) return new Promise((resolve, reject) => this.connect((error) => (error ? reject(error) : resolve(this))));
      const creating = host.probe;
      if (creating !== undefined) callback = creating.creating(callback);
      const open = () => {
        if (generation.retired) return callback(new RetiredGenerationError());
        // pg-pool's connection timeout destroyed the socket while the secret was awaited.
        if ((this as unknown as { connection: { stream: { destroyed?: boolean } } }).connection.stream.destroyed) {
          return callback(new Error('timeout exceeded when trying to connect'));
        }
        // Tracked from the moment a socket opens, so shutdown also waits for logins under way.
        sockets.add(this);
        this.once('end', () => {
          sockets.delete(this);
          onClosed();
        });
        try {
          super.connect(callback);
        } catch (error) {
          callback(error as Error);
        }
      };
      // No socket opens without a usable secret: however pg-pool came to open this connection
      // (a queued caller served after a removal, several callers in one tick), it waits for
      // the one shared fetch, or fails at once while the source is failing.
      if (refresher.peek()) open();
      else refresher.get().then(open, (error: Error) => callback(error));
    }
  };
}

/** Closes a client's socket at once, without the goodbye a half-open handshake would wait on. */
export function destroySocket(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
