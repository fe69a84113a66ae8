import pg from 'pg';

/**
 * Every use of a pg or pg-pool member that is not part of their documented API, in one file: a pg
 * release that renames one of them breaks this file, and `assertPgInternals()` says so at
 * bootstrap instead of the pool misbehaving quietly.
 *
 * Why each is needed:
 * - `connection` (a Client's wire connection): its `parameterStatus` and `readyForQuery` messages
 *   tell whether the server turned read-only and the transaction status on pg releases without
 *   `getTransactionStatus()`; its `stream` is destroyed to cut off a half-open login.
 * - `readyForQuery`: false while a query is outstanding, so a status read then is stale.
 * - `_queryable`: pg-pool reads it when a client is released; false makes pg-pool close that
 *   client instead of putting it back in the idle set.
 * - `_connected` / `_ending`: whether a client finished its login / is already closing (shutdown).
 * - `_pulseQueue()`: pg-pool's "serve the queue now", for a slot freed by another generation.
 * - `connection.stream.remoteAddress`: which server a connection is on (the DNS watch).
 * - `host` / `port` of a Client not yet connected: where a host list aims it.
 */

/** What the server last said about the session: idle, in a transaction, in a failed transaction. */
export type TransactionStatus = 'I' | 'T' | 'E';

interface ClientInternals {
  connection: WireConnection;
  readyForQuery: boolean;
  _queryable: boolean;
  _connected?: boolean;
  _ending?: boolean;
  getTransactionStatus?: () => string | null;
}

interface WireConnection {
  stream: { destroyed?: boolean; remoteAddress?: string; destroy(): void };
  on(event: 'parameterStatus', listener: (message: { parameterName: string; parameterValue: string }) => void): void;
  on(event: 'readyForQuery', listener: (message: { status?: string }) => void): void;
  once(event: 'readyForQuery', listener: () => void): void;
}

const internals = (client: pg.Client) => client as unknown as ClientInternals;

/** pg ≥ 8.23 keeps the transaction status itself; older releases need it read off the wire. */
const PG_TRACKS_STATUS = typeof (pg.Client.prototype as Partial<ClientInternals>).getTransactionStatus === 'function';

const trackedStatus = new WeakMap<pg.Client, string>();

/**
 * Starts whatever per-connection bookkeeping this pg release needs; called once per client, before
 * it connects. `onParameter` hears each ParameterStatus message (at login, and whenever a reported
 * setting changes).
 */
export function watchConnection(client: pg.Client, onParameter: (name: string, value: string) => void): void {
  const connection = internals(client).connection;
  // pg's Client ignores ParameterStatus messages; its Connection emits them.
  connection.on('parameterStatus', (message) => onParameter(message.parameterName, message.parameterValue));
  if (!PG_TRACKS_STATUS) {
    connection.on('readyForQuery', (message) => {
      if (typeof message.status === 'string') trackedStatus.set(client, message.status);
    });
  }
}

/**
 * The transaction status of the last ReadyForQuery, or undefined while a query is outstanding (the
 * status then is stale: an error reaches its callback before the server's ReadyForQuery).
 */
export function settledTransactionStatus(client: pg.Client): TransactionStatus | undefined {
  const state = internals(client);
  if (state.readyForQuery !== true) return undefined;
  const status = PG_TRACKS_STATUS ? state.getTransactionStatus!() : trackedStatus.get(client);
  return status === 'I' || status === 'T' || status === 'E' ? status : undefined;
}

/** Whether the client has a query outstanding (its ReadyForQuery has not arrived yet). */
export function awaitingReadyForQuery(client: pg.Client): boolean {
  return internals(client).readyForQuery !== true;
}

/** Runs `then` once the outstanding query's ReadyForQuery has been handled by pg. */
export function afterReadyForQuery(client: pg.Client, then: () => void): void {
  // Registered after pg's own listener, so pg has already recorded the status when this runs.
  internals(client).connection.once('readyForQuery', then);
}

/** Makes pg-pool close this client when it is released, instead of keeping it idle. */
export function doNotReuse(client: pg.Client): void {
  internals(client)._queryable = false;
}

/** Whether the client finished logging in. */
export function isLoggedIn(client: pg.Client): boolean {
  return internals(client)._connected === true;
}

/** Whether the client is already closing. */
export function isClosing(client: pg.Client): boolean {
  return internals(client)._ending === true;
}

/** Whether pg-pool's connection timeout destroyed the socket (while the secret was awaited). */
export function isSocketDestroyed(client: pg.Client): boolean {
  return internals(client).connection.stream.destroyed === true;
}

/**
 * Whether a client handed out of the pool is already dead, before anything is written to it: the
 * server closed its idle socket and pg noticed, or the socket is gone. A query sent to it would
 * fail without ever reaching a server, so it is safe to use another connection instead.
 * Three property reads, no allocation: this runs on every checkout.
 */
export function isDeadBeforeUse(client: pg.Client): boolean {
  const state = client as unknown as Partial<ClientInternals>;
  return state._queryable === false || state._ending === true || state.connection?.stream?.destroyed === true;
}

/** The server address a client's socket is connected to (undefined before it connects or after it closes). */
export function remoteAddressOf(client: pg.Client): string | undefined {
  return (client as unknown as Partial<ClientInternals>).connection?.stream?.remoteAddress;
}

/** Points a client not yet connected at one host of a list (pg reads `host` and `port` when it connects). */
export function aimClient(client: pg.Client, host: string, port: number): void {
  const target = client as unknown as { host: string; port: number };
  target.host = host;
  target.port = port;
}

/** Closes a client's socket at once, without the goodbye a half-open handshake would wait on. */
export function destroySocket(client: pg.Client): void {
  (client as unknown as Partial<ClientInternals>).connection?.stream?.destroy();
}

/** Asks pg-pool to serve its queue now (pg-pool looks at it only on its own events). */
export function pulseQueue(pool: pg.Pool): void {
  const internalPool = pool as unknown as { _pulseQueue?: () => void };
  if (typeof internalPool._pulseQueue === 'function') internalPool._pulseQueue();
}

let checked = false;

/**
 * Checks, once at bootstrap, that the installed pg has what this file relies on; a clear error
 * beats a pool that quietly stops closing poisoned connections after a pg upgrade.
 */
export function assertPgInternals(): void {
  if (checked) return;
  const missing: string[] = [];
  const client = new pg.Client({ host: '127.0.0.1', port: 1 });
  const state = client as unknown as Partial<ClientInternals>;
  if (typeof state.connection?.on !== 'function' || typeof state.connection.once !== 'function') missing.push('Client#connection');
  // `readyForQuery` is set by this handler (it is unset until the first ReadyForQuery).
  if (typeof (pg.Client.prototype as unknown as { _handleReadyForQuery?: unknown })._handleReadyForQuery !== 'function') {
    missing.push('Client#_handleReadyForQuery');
  }
  if (typeof state._queryable !== 'boolean') missing.push('Client#_queryable');
  if (typeof state._connected !== 'boolean' && state._connected !== undefined) missing.push('Client#_connected');
  if (typeof (pg.Pool.prototype as unknown as { _pulseQueue?: unknown })._pulseQueue !== 'function') missing.push('Pool#_pulseQueue');
  if (missing.length > 0) {
    throw new Error(
      `nestjs-entra-pg cannot run on the installed pg: it lacks ${missing.join(', ')}. Install a pg release this package ` +
        'supports (see peerDependencies), or report the pg version in an issue.',
    );
  }
  checked = true;
}
