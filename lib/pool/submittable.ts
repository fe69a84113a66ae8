import type pg from 'pg';
import type { PoolCheckout } from './pool-checkout.js';

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
