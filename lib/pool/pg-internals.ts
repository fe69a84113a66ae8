import type pg from 'pg';

/**
 * Every read of a pg private member this library's high-availability code makes, in one place,
 * checked against pg 8.23: `_queryable` (false after a connection error), `_ending` (end() was
 * called) and `connection.stream` (the socket).
 */
interface ClientInternals {
  _queryable?: boolean;
  _ending?: boolean;
  connection?: { stream?: { destroyed?: boolean; remoteAddress?: string } };
}

/**
 * Whether a client handed out of the pool is already dead, before anything is written to it: the
 * server closed its idle socket and pg noticed, or the socket is gone. A query sent to it would
 * fail without ever reaching a server, so it is safe to use another connection instead.
 * Three property reads, no allocation: this runs on every checkout.
 */
export function isDeadBeforeUse(client: pg.PoolClient): boolean {
  const internals = client as unknown as ClientInternals;
  return internals._queryable === false || internals._ending === true || internals.connection?.stream?.destroyed === true;
}

/** The server address a client's socket is connected to (undefined before it connects or after it closes). */
export function remoteAddressOf(client: pg.Client): string | undefined {
  return (client as unknown as ClientInternals).connection?.stream?.remoteAddress;
}

/**
 * Calls `listener` for each ParameterStatus message the server sends on this client's connection
 * (pg's Connection emits them as 'parameterStatus'; Client ignores them).
 */
export function onParameterStatus(client: pg.Client, listener: (name: string, value: string) => void): void {
  const connection = (client as unknown as { connection?: { on(event: string, handler: (message: unknown) => void): void } }).connection;
  connection?.on('parameterStatus', (message) => {
    const { parameterName, parameterValue } = message as { parameterName?: unknown; parameterValue?: unknown };
    if (typeof parameterName === 'string' && typeof parameterValue === 'string') listener(parameterName, parameterValue);
  });
}

/** Points a client not yet connected at one host of a list (pg reads `host` and `port` when it connects). */
export function aimClient(client: pg.Client, host: string, port: number): void {
  const target = client as unknown as { host: string; port: number };
  target.host = host;
  target.port = port;
}
