import pg from 'pg';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import { destroySocket, isSocketDestroyed, watchConnection } from './pg-internals.js';
import { type LoginGate, reportingTo } from './connect-retry.js';
import { type HostSelector, loginOnTarget } from './server-selection.js';
import { type EntraPgPoolHost, type Generation, RetiredGenerationError } from './pool-types.js';

/** What a generation's clients need to know of it: passed through pg-pool's options to each client. */
export interface ClientTracking {
  generation: Generation;
  refresher: CredentialRefresher;
  host: EntraPgPoolHost;
  onClosed: () => void;
  /** A connection whose server was writable at login heard it turn read-only (a switchover, a demotion). */
  onServerReadOnly: (generation: Generation, reason: string) => void;
  /** Paces logins while the server cannot be reached (connect-retry.ts). */
  gate: LoginGate;
  /** Chooses the host of each login from a host list (server-selection.ts). */
  hosts: HostSelector;
}

// pg-pool copies its options (symbol keys too) and hands them to `new Client(options)`.
const TRACKING = Symbol('nestjs-entra-pg client tracking');

/** ParameterStatus settings (reported by PostgreSQL 14+) that say a server takes no writes. */
const READ_ONLY_PARAMETERS = new Set(['default_transaction_read_only', 'in_hot_standby']);

/**
 * The pg.Client class every generation's pg.Pool creates: it opens no socket before the secret is
 * cached, closes the socket when the password cannot be had, keeps the generation's set of open
 * sockets (so shutdown and `pool.max` see logins under way too), and notices its server turning
 * read-only.
 *
 * One class for every generation and every connection, not a class per generation: pg's query
 * path reads the client's properties on every message, and each class is another object shape
 * for those reads to check; after a few rotations they would turn megamorphic, and slow.
 */
class TrackedClient extends pg.Client {
  private readonly tracking: ClientTracking;
  /**
   * What the server last reported of READ_ONLY_PARAMETERS (PostgreSQL 14 and later; PgBouncer
   * passes them on only if told to). Read by host selection at login, and here after it.
   */
  private readonly reported = new Map<string, string>();
  /** Whether the server took writes when this connection logged in (undefined: not logged in yet, or not reported). */
  private writableAtLogin: boolean | undefined = undefined;
  /** Heard its server turn read-only after a writable login: not put back in the idle set. */
  turnedReadOnly = false;

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
    watchConnection(this, (name, value) => this.parameterChanged(name, value));
  }

  /** A ParameterStatus message: at login, and after login whenever the server changes a reported setting. */
  private parameterChanged(name: string, value: string): void {
    if (!READ_ONLY_PARAMETERS.has(name)) return;
    const wasReadOnly = this.readOnly();
    this.reported.set(name, value);
    if (this.writableAtLogin === true && !wasReadOnly && this.readOnly()) {
      // It is checked out now (a server reports changes before a ReadyForQuery) and stays usable for
      // the rest of its caller's work; it closes on release, so the next login resolves the host again.
      this.turnedReadOnly = true;
      this.tracking.onServerReadOnly(this.tracking.generation, `the server turned read-only (${name} is on)`);
    }
  }

  private readOnly(): boolean {
    for (const value of this.reported.values()) if (value === 'on') return true;
    return false;
  }

  override connect(): Promise<pg.Client>;
  override connect(callback: (err: Error) => void): void;
  override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
    if (!callback) return new Promise((resolve, reject) => this.connect((error) => (error ? reject(error) : resolve(this))));
    const { generation, refresher, host, onClosed, gate, hosts } = this.tracking;
    const creating = host.probe;
    if (creating !== undefined) callback = creating.creating(callback);
    const done = callback;
    const loggedIn = (error: Error) => {
      // The settings reported at login arrive before the login completes. A server that reports
      // none (before 14) leaves it undefined: a 25006 there proves nothing about a role change.
      if (!error && this.reported.size > 0) this.writableAtLogin = !this.readOnly();
      done(error);
    };
    const open = (step: number) => {
      // A login that waited at the gate through a shutdown or rotation never opens.
      if (generation.retired || host.ending) return done(new RetiredGenerationError());
      // pg-pool's connection timeout destroyed the socket while the secret was awaited.
      if (isSocketDestroyed(this)) return done(new Error('timeout exceeded when trying to connect'));
      // Tracked from the moment a socket opens, so shutdown also waits for logins under way.
      generation.sockets.add(this);
      this.once('end', () => {
        generation.sockets.delete(this);
        onClosed();
      });
      try {
        const login = (finish: (error: Error) => void) => super.connect(reportingTo(gate, step, finish));
        loginOnTarget(hosts, this, this.reported, login, loggedIn, (error) => {
          // No socket was opened after all: nothing will close, so stop tracking it here.
          generation.sockets.delete(this);
          onClosed();
          gate.failed(step, error);
        });
      } catch (error) {
        done(error as Error);
      }
    };
    // No socket opens without a usable secret: however pg-pool came to open this connection
    // (a queued caller served after a removal, several callers in one tick), it waits for
    // the one shared fetch, or fails at once while the source is failing.
    if (refresher.peek()) gate.enter(open);
    else refresher.get().then(() => gate.enter(open), (error: Error) => done(error));
  }
}

/**
 * Whether this client's server took writes at login and has since reported itself read-only
 * (default_transaction_read_only or in_hot_standby on, PostgreSQL 14+): it does not go back to the
 * idle set, and with a 25006 the server changed role. A transaction the app made READ ONLY
 * reports neither, and proves nothing.
 */
export function serverTurnedReadOnly(client: pg.Client): boolean {
  return client instanceof TrackedClient && client.turnedReadOnly;
}

/** A generation's pg.Pool config with its clients tracked. */
export function withTrackedClients(config: pg.PoolConfig, tracking: ClientTracking): pg.PoolConfig {
  return { ...config, Client: TrackedClient as unknown as typeof pg.Client, [TRACKING]: tracking } as pg.PoolConfig;
}
