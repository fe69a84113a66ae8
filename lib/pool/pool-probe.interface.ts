import type { AcquireCallback } from './waiter-list.js';

/**
 * What the pool tells an instrumentation (lib/metrics) about, at the few points no pg-pool event
 * covers. Absent unless a MeterProvider is registered: the query path then pays one property read.
 */
export interface EntraPgPoolProbe {
  /** A caller asks for a client; returns the callback to answer it with (timing the wait). */
  acquiring(callback: AcquireCallback): AcquireCallback;
  /** A new connection starts to open; returns the callback its connect() answers (timing the login). */
  creating(callback: (error: Error) => void): (error: Error) => void;
  /** A refused login is retried with a freshly fetched secret. */
  loginRetried(): void;
}
