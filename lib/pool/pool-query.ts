import pg from 'pg';
import { isConnectionGone } from './login-errors.js';
import { afterReadyForQuery, awaitingReadyForQuery } from './pg-internals.js';
import type { PoolCheckout } from './pool-checkout.js';

export type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;

/** read_only_sql_transaction: the server takes no writes now; the connection goes, and its generation with it (pool-generations.ts). */
const READ_ONLY_SQL_TRANSACTION = '25006';

/**
 * pool.query with text or a config: runs it on a checked-out client and releases the client
 * however the query ends. After an SQL error the connection is kept only when the server then says
 * it is idle outside a transaction (`BEGIN; SELECT 1/0` leaves it in a failed one, and it closes);
 * it is dropped when the connection is gone or its server stopped taking writes.
 */
export function runQuery(checkout: PoolCheckout, text: string | pg.QueryConfig, values: unknown[] | undefined, callback: QueryCallback): void {
  checkout.acquire((acquireError, client) => {
    if (!client) {
      callback(acquireError);
      return;
    }
    let released = false;
    // `null` after a query that succeeded: pg-pool releases with the query callback's own error value.
    const release = (error: Error | null | undefined) => {
      if (released) return false;
      released = true;
      client.removeListener('error', onError);
      client.release(error as Error | undefined);
      return true;
    };
    // A connection that dies mid-query emits 'error'; without this listener the process would crash.
    const onError = (error: Error) => {
      if (release(error)) callback(error);
    };
    // `on`, not `once`: release() removes it either way, and once() costs a wrapper per query.
    client.on('error', onError);
    try {
      // pg takes a config object and undefined values here too (a config keeps its own values);
      // @types/pg types only the text-and-array form of this overload.
      client.query(text as string, values as unknown[], (error: Error | null, result: pg.QueryResult) => {
        if (!error) {
          // The release decides from the transaction status (`pool.query('BEGIN')` leaves one open).
          if (release(error)) callback(undefined, result);
        } else if (error instanceof pg.DatabaseError && !isConnectionGone(error) && error.code !== READ_ONLY_SQL_TRANSACTION) {
          // An SQL error reaches us before the server's ReadyForQuery, whose transaction status says
          // whether the connection can serve again; the release waits for it (a socket that dies
          // first ends in onError). pg-pool drops the connection after any query error instead.
          if (!awaitingReadyForQuery(client)) {
            if (release(undefined)) callback(error);
          } else {
            afterReadyForQuery(client, () => {
              if (release(undefined)) callback(error);
            });
          }
        } else if (release(error)) {
          callback(error);
        }
      });
    } catch (error) {
      // pg throws synchronously for a null query and other malformed input.
      if (release(error as Error)) callback(error as Error);
    }
  });
}
