import pg from 'pg';
import { READ_ONLY_SQL_TRANSACTION, isConnectionGone } from './login-errors.js';
import { afterReadyForQuery, awaitingReadyForQuery } from './pg-internals.js';
import type { PoolCheckout } from './pool-checkout.js';

// The query path after checkout: pool.query with text or a config (runQuery), with a Submittable
// such as a cursor or a stream (submitQuery), and the caller's stack on a rejected promise.

export type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;

/** How long an SQL error waits for its ReadyForQuery before the connection is given up on. */
const READY_WAIT_MS = 5_000;

function afterReadyOrTimeout(client: pg.PoolClient, ready: () => void, stalled: () => void): void {
  const timer = setTimeout(stalled, READY_WAIT_MS);
  timer.unref();
  afterReadyForQuery(client, () => {
    clearTimeout(timer);
    ready();
  });
}

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
        } else if (error instanceof pg.DatabaseError && !isConnectionGone(error)) {
          // An SQL error reaches us before the server's ReadyForQuery, whose transaction status says
          // whether the connection can serve again, and before any ParameterStatus saying the
          // server turned read-only; the release waits for it (a socket that dies first ends in
          // onError; a server that stalls, at READY_WAIT_MS). A 25006 always closes the connection.
          // pg-pool drops the connection after any query error instead.
          const keep = error.code !== READ_ONLY_SQL_TRANSACTION;
          const settle = () => {
            if (release(keep ? undefined : error)) callback(error);
          };
          if (!awaitingReadyForQuery(client)) settle();
          else afterReadyOrTimeout(client, settle, () => {
            if (release(error)) callback(error);
          });
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

/**
 * Runs a Submittable (pg-query-stream, pg-cursor) on a client of its own, released when it ends,
 * fails or closes. It is returned at once; a failure to get a client reaches it as an error.
 */
export function submitQuery<T extends pg.Submittable>(checkout: PoolCheckout, submittable: T): T {
  const events = submittable as unknown as NodeJS.EventEmitter & { destroyed?: boolean };
  if (typeof events.once !== 'function' || typeof events.removeListener !== 'function') {
    // Without end/error events nothing tells when to give the client back.
    throw new TypeError(
      'pool.query takes Submittables that emit end and error (pg-query-stream, pg-cursor, pg.Query); for others, ' +
        'check out a client with pool.connect() and release it yourself',
    );
  }
  // A stream may be destroyed while it waits for a client (a request aborted): then the client,
  // when it comes, goes straight back and nothing is submitted.
  let closedEarly = events.destroyed === true;
  const onCloseWhileWaiting = () => (closedEarly = true);
  events.once('close', onCloseWhileWaiting);
  checkout.acquire((error, client) => {
    events.removeListener('close', onCloseWhileWaiting);
    if (!client) {
      if (!closedEarly) failSubmittable(submittable, error ?? new Error('pg-pool returned no client'));
      return;
    }
    if (closedEarly || events.destroyed === true) {
      client.release();
      return;
    }
    let released = false;
    const release = (releaseError?: Error) => {
      if (released) return;
      released = true;
      client.removeListener('error', onClientError);
      events.removeListener('end', onEnd);
      events.removeListener('error', onSubmittableError);
      events.removeListener('close', onClose);
      client.release(releaseError);
    };
    const onEnd = () => release();
    const onSubmittableError = (submittableError: Error) => release(submittableError);
    // Closed before its end (a stream destroyed early): the cursor may still be open, so the
    // connection is not reused.
    const onClose = () => release(new Error('closed before it ended'));
    const onClientError = (clientError: Error) => {
      release(clientError);
      failSubmittable(submittable, clientError);
    };
    client.once('error', onClientError);
    events.once('end', onEnd);
    events.once('error', onSubmittableError);
    events.once('close', onClose);
    try {
      client.query(submittable);
    } catch (queryError) {
      release(queryError as Error);
      failSubmittable(submittable, queryError as Error);
    }
  });
  return submittable;
}

/** Hands an error to a Submittable the way pg would, so its reader sees it instead of waiting forever. */
function failSubmittable(submittable: pg.Submittable, error: Error): void {
  const target = submittable as unknown as { handleError?: (error: Error) => void; destroy?: (error: Error) => void };
  if (typeof target.destroy === 'function') target.destroy(error);
  else if (typeof target.handleError === 'function') target.handleError(error);
}

/**
 * The promise, with its rejection's stack trace replaced by one that leads to the caller (pg-pool
 * does the same): an error from the socket otherwise shows only pg's parser frames. Captured in a
 * reaction, V8 adds the awaiting async functions of the caller, at no cost when nothing fails.
 */
export function withCallerStack<T>(promise: Promise<T>): Promise<T> {
  return promise.catch(restack);
}

function restack(error: unknown): never {
  if (error instanceof Error) {
    try {
      Error.captureStackTrace(error);
    } catch {
      // A frozen error keeps the stack it has.
    }
  }
  throw error;
}
