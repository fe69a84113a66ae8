import pg from 'pg';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import { type LoginGate, reportingTo } from './connect-retry.js';
import { type HostSelector, loginOnTarget } from './target-session.js';
import { type Generation, RetiredGenerationError } from './pool-generation.js';
import type { EntraPgPoolHost } from './pool-host.interface.js';

/** What a generation's clients need to know of it: passed through pg-pool's options to each client. */
export interface ClientTracking {
  generation: Generation;
  refresher: CredentialRefresher;
  host: EntraPgPoolHost;
  onClosed: () => void;
  /** Paces logins while the server cannot be reached (connect-retry.ts). */
  gate: LoginGate;
  /** Chooses the host of each login from a host list (target-session.ts). */
  hosts: HostSelector;
}

// pg-pool copies its options (symbol keys too) and hands them to `new Client(options)`.
const TRACKING = Symbol('nestjs-entra-pg client tracking');

/**
 * The pg.Client class every generation's pg.Pool creates: it opens no socket before the secret is
 * cached, closes the socket when the password cannot be had, and keeps the generation's set of
 * open sockets (so shutdown and `pool.max` see logins under way too).
 *
 * One class for every generation and every connection, not a class per generation: pg's query
 * path reads the client's properties on every message, and each class is another object shape
 * for those reads to check; after a few rotations they would turn megamorphic, and slow.
 */
class TrackedClient extends pg.Client {
  private readonly tracking: ClientTracking;

  constructor(clientConfig: pg.ClientConfig & { [TRACKING]: ClientTracking }) {
    super(clientConfig);
    this.tracking = clientConfig[TRACKING];
    const self = this as unknown as { password?: unknown };
    const password = self.password;
    if (typeof password === 'function') {
      // pg leaves the socket half-open when the password function fails, and the server
      // keeps the backend in authentication for a minute; close it instead.
      self.password = (...args: unknown[]) =>
        Promise.resolve()
          .then(() => password(...args))
          .catch((error: unknown) => {
            destroySocket(this);
            throw error;
          });
    }
  }

  override connect(): Promise<pg.Client>;
  override connect(callback: (err: Error) => void): void;
  override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
    if (!callback) return new Promise((resolve, reject) => this.connect((error) => (error ? reject(error) : resolve(this))));
    const { generation, refresher, host, onClosed, gate, hosts } = this.tracking;
    const creating = host.probe;
    if (creating !== undefined) callback = creating.creating(callback);
    const open = (step: number) => {
      // A login that waited at the gate through a shutdown or rotation never opens.
      if (generation.retired || host.ending) return callback(new RetiredGenerationError());
      // pg-pool's connection timeout destroyed the socket while the secret was awaited.
      if ((this as unknown as { connection: { stream: { destroyed?: boolean } } }).connection.stream.destroyed) {
        return callback(new Error('timeout exceeded when trying to connect'));
      }
      // Tracked from the moment a socket opens, so shutdown also waits for logins under way.
      generation.sockets.add(this);
      this.once('end', () => {
        generation.sockets.delete(this);
        onClosed();
      });
      try {
        const login = (done: (error: Error) => void) => super.connect(reportingTo(gate, step, done));
        loginOnTarget(hosts, this, login, callback, (error) => {
          // No socket was opened after all: nothing will close, so stop tracking it here.
          generation.sockets.delete(this);
          onClosed();
          gate.failed(step, error);
        });
      } catch (error) {
        callback(error as Error);
      }
    };
    // No socket opens without a usable secret: however pg-pool came to open this connection
    // (a queued caller served after a removal, several callers in one tick), it waits for
    // the one shared fetch, or fails at once while the source is failing.
    if (refresher.peek()) gate.enter(open);
    else refresher.get().then(() => gate.enter(open), (error: Error) => callback(error));
  }
}

/** A generation's pg.Pool config with its clients tracked. */
export function withTrackedClients(config: pg.PoolConfig, tracking: ClientTracking): pg.PoolConfig {
  return { ...config, Client: TrackedClient as unknown as typeof pg.Client, [TRACKING]: tracking } as pg.PoolConfig;
}

/** Closes a client's socket at once, without the goodbye a half-open handshake would wait on. */
export function destroySocket(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
