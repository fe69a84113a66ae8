import pg from 'pg';
import { isConnectionGone } from './login-errors.js';
import type { PoolCheckout } from './pool-checkout.js';

export type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;

/**
 * pool.query with text or a config: runs it on a checked-out client and releases the client
 * however the query ends — kept warm after an SQL error, dropped when the connection is gone.
 */
export function runQuery(checkout: PoolCheckout, text: string | pg.QueryConfig, values: unknown[] | undefined, callback: QueryCallback): void {
  checkout.acquire((acquireError, client) => {
    if (!client) {
      callback(acquireError);
      return;
    }
    let released = false;
    const release = (error: Error | undefined) => {
      if (released) return false;
      released = true;
      client.removeListener('error', onError);
      client.release(error);
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
        // A server-side SQL error leaves the connection usable; keep it warm, unless the server
        // ended the session (FATAL/PANIC). pg-pool itself drops connections no longer queryable.
        const broken = error && (!(error instanceof pg.DatabaseError) || isConnectionGone(error));
        if (!release(broken ? error : undefined)) return;
        if (error) callback(error);
        else callback(undefined, result);
      });
    } catch (error) {
      // pg throws synchronously for a null query and other malformed input.
      if (release(error as Error)) callback(error as Error);
    }
  });
}
