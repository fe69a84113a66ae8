import type { Logger } from '@nestjs/common';
import { isIP, type LookupFunction, Socket, type SocketConstructorOpts } from 'node:net';
import { describeCause } from '../entra-pg.errors.js';

// Following a host name that moves: the socket factory that resolves with `lookup`, and the re-check
// that retires a generation whose server address left the answers.

/** How long one re-resolution may take before it counts as no answer. */
const LOOKUP_TIMEOUT_MS = 5_000;
/** How soon an address missing from one answer is looked up again, to confirm it is gone. */
const CONFIRM_AFTER_MS = 1_000;
/** Least time between two re-resolutions asked for by connection errors (a burst of errors is one check). */
const MIN_RECHECK_GAP_MS = 1_000;
/** Share of the interval taken off at random, so replicas do not all resolve together. */
const INTERVAL_JITTER = 0.2;

export interface DnsWatchOptions {
  host: string;
  /** Off for a host list: its connections are on several addresses by design. */
  enabled: boolean;
  lookup: LookupFunction;
  /** Period of the re-resolution; 0 turns the periodic check off (errors still trigger one). */
  intervalMs: number;
  logger: Logger;
  /** The server addresses of the active generation's open connections. */
  connectedAddresses(): string[];
  /** The name no longer points where these connections are: retire them as a rotation does. */
  moved(reason: string): void;
}

/**
 * Follows a host name that moves (a failover that repoints DNS, a blue/green switch): re-resolves
 * it on an interval and after a connection-level error, and when a connection's server address is
 * no longer among the answers, asks for the pool's connections to be replaced (drained, never
 * failed). One lookup at a time, each bounded; the timer is unref'd and stops at shutdown.
 */
export class DnsWatch {
  private timer: NodeJS.Timeout | undefined;
  private resolving = false;
  private lastCheckAt = 0;
  private stopped = false;
  /** Addresses missing from the last answer, waiting for a second answer to confirm they are gone. */
  private suspect: Set<string> | undefined;

  constructor(private readonly options: DnsWatchOptions) {}

  /** Whether there is a name to follow at all: an IP address or a Unix socket path never moves. */
  get applies(): boolean {
    const host = this.options.host;
    return this.options.enabled && isIP(host) === 0 && !host.startsWith('/');
  }

  start(): void {
    if (!this.applies || this.stopped) return;
    this.schedule();
  }

  /** After a connection-level error: check now, unless a check is under way or has just run. */
  recheckNow(): void {
    if (!this.applies || this.stopped || this.resolving) return;
    if (Date.now() - this.lastCheckAt < MIN_RECHECK_GAP_MS) return;
    this.check();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const interval = this.options.intervalMs;
    if (this.stopped || (interval <= 0 && this.suspect === undefined)) return;
    // A suspected move is confirmed soon after, within the period; at least 1 ms: a computed delay
    // of 0 would turn this into a loop.
    const period = this.suspect !== undefined ? Math.min(CONFIRM_AFTER_MS, interval > 0 ? interval / 2 : CONFIRM_AFTER_MS) : interval;
    const delay = Math.max(1, Math.round(period * (1 - Math.random() * INTERVAL_JITTER)));
    this.timer = setTimeout(() => this.check(), delay);
    this.timer.unref();
  }

  private check(): void {
    if (this.resolving || this.stopped) return;
    this.resolving = true;
    this.lastCheckAt = Date.now();
    resolveAll(this.options.lookup, this.options.host).then(
      (answers) => {
        this.resolving = false;
        if (!this.stopped) this.compare(answers);
        this.schedule();
      },
      (error: unknown) => {
        this.resolving = false;
        // No answer is no news: the connections stay where they are until the name resolves again.
        this.options.logger.warn(`Could not re-resolve ${this.options.host}: ${describeCause(error)}`);
        this.schedule();
      },
    );
  }

  /**
   * An address is gone when two answers in a row leave it out: a name that answers a different
   * subset of its servers each time (round-robin DNS, a reader endpoint) must not rebuild the pool
   * at every check, while a real move is confirmed within a second.
   */
  private compare(answers: string[]): void {
    if (answers.length === 0) return;
    const known = new Set(answers.map(plainAddress));
    const missing = [...new Set(this.options.connectedAddresses().map(plainAddress))].filter((address) => !known.has(address));
    const suspect = this.suspect;
    this.suspect = undefined;
    const stale = suspect ? missing.filter((address) => suspect.has(address)) : [];
    if (stale.length === 0) {
      if (missing.length > 0) this.suspect = new Set(missing);
      return;
    }
    // One log line for the move: the rotation it starts logs this reason with old and new address.
    this.options.moved(`${this.options.host} moved from ${stale.join(', ')} to ${answers.join(', ')}`);
  }
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same server. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Every address `lookup` gives for `host`, bounded by LOOKUP_TIMEOUT_MS; a throwing lookup rejects. */
export function resolveAll(lookup: LookupFunction, host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS);
    timer.unref();
    try {
      lookup(host, { all: true }, (error, addresses) => {
        clearTimeout(timer);
        if (error) return reject(error);
        const list = Array.isArray(addresses) ? addresses.map((entry) => (typeof entry === 'string' ? entry : entry.address)) : [addresses];
        resolve(list.filter((address): address is string => typeof address === 'string'));
      });
    } catch (error) {
      clearTimeout(timer);
      reject(error as Error);
    }
  });
}

/**
 * A socket that resolves the server's host name with the given `lookup` rather than the OS
 * resolver. pg calls `connect(port, host)` (or `connect(path)` for a Unix socket); TLS is layered
 * on top by pg afterwards and still checks the configured host name, not the address.
 */
class LookupSocket extends Socket {
  constructor(
    private readonly lookupWith: LookupFunction,
    options?: SocketConstructorOpts,
  ) {
    super(options);
  }

  // net.Socket's connect() has many overloads; pg uses only these two.
  override connect(...args: unknown[]): this {
    const [port, host, listener] = args as [number | string, string | undefined, (() => void) | undefined];
    if (typeof port === 'string' && host === undefined) return super.connect(port, listener);
    return super.connect({ port: Number(port), host: host ?? 'localhost', lookup: this.lookupWith }, listener);
  }
}

/** pg's `stream` option: a factory of sockets that resolve with `lookup`. */
export function socketFactory(lookup: LookupFunction): () => Socket {
  return () => new LookupSocket(lookup);
}
