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
