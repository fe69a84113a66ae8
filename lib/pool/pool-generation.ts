import type pg from 'pg';

/** One pg.Pool and the identity it logs in as; retired generations drain and never log in again. */
export interface Generation {
  pool: pg.Pool;
  user: string | undefined;
  retired: boolean;
  /** Its connections from the moment their socket opens (logging in included) until it closes. */
  sockets: Set<pg.Client>;
  /** Retired and its pg.Pool has ended; it is forgotten once its last socket has closed too. */
  ended: boolean;
  /** One of its connections heard the server turn read-only (logged once per generation). */
  readOnlyHeard: boolean;
}

/** Raised inside a retired generation's login, so the caller is sent to the active generation instead. */
export class RetiredGenerationError extends Error {
  constructor() {
    super('this pool generation has retired');
  }
}
