import { describeCause } from '../entra-pg.errors.js';
import { LOGIN_RETRY_DEFAULTS } from '../options/entra-pg.defaults.js';

/** System errors of a socket that could not reach, or lost, a server that may come back. */
const TRANSIENT_SYSTEM_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * SQLSTATEs of a login the server turned away for now: cannot_connect_now (starting up, shutting
 * down), admin_shutdown (the server stopped during the login), too_many_connections.
 */
const TRANSIENT_SQLSTATES = new Set(['57P03', '57P01', '53300', '53400']);

/** pg's and pg-pool's messages for a socket that closed or timed out during the login. */
// Not pg-pool's "timeout exceeded when trying to connect": that is a caller that waited its
// connectionTimeoutMillis in the queue of a busy pool (or for the secret), which says nothing about
// the server; a login cut by the timeout reads "Connection terminated due to connection timeout".
const TRANSIENT_MESSAGES = /^(Connection terminated|timeout expired)/;

/**
 * Whether a failed login may succeed if tried again soon: the server was unreachable, restarting
 * or full. A refused password (28P01/28000) is not one of these: pool-checkout.ts retries it once
 * with a fresh secret instead.
 */
export function isTransientLoginError(error: unknown): boolean {
  const { code, message, cause, transient } = (error ?? {}) as { code?: unknown; message?: unknown; cause?: unknown; transient?: unknown };
  if (transient === true) return true;
  if (typeof code === 'string') {
    if (TRANSIENT_SYSTEM_ERRORS.has(code) || TRANSIENT_SQLSTATES.has(code)) return true;
    // Class 08 (connection exception), but not 08P01: PgBouncer refuses a password with it.
    if (code.startsWith('08') && code !== '08P01') return true;
  }
  if (typeof message === 'string' && TRANSIENT_MESSAGES.test(message)) return true;
  // pg-pool wraps a login cut by its timeout: "Connection terminated due to connection timeout", { cause }.
  return cause !== undefined && cause !== error && isTransientLoginError(cause);
}

/** Whether the server can be reached, as logins have found it; read by the health indicator. */
export interface Reachability {
  /** When logins started failing (undefined while the last login succeeded). */
  downSince: number | undefined;
  /** The last transient login error while down. */
  lastError: string | undefined;
  /** Logins attempted since the outage began. */
  attemptsWhileDown: number;
}

/**
 * The pace of logins to one server, shared by every connection of an EntraPgPool (all its
 * generations): while logins fail for a reason that passes, a new login waits for the next
 * opening of the gate, one backoff step later (capped exponential, equal jitter). Each missing
 * connection of the pool waits at the gate with its own login, so there are at most as many
 * logins per step as connections missing — never the storm of pg-pool serving its next queued
 * caller with a new login the moment the previous one was refused.
 */
export class LoginGate implements Reachability {
  downSince: number | undefined;
  lastError: string | undefined;
  attemptsWhileDown = 0;
  /** Backoff steps taken in the current outage. */
  private failures = 0;
  /** Bumped at each opening: a login failing in a step already counted does not lengthen the backoff. */
  private step = 0;
  private openAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private waiting: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly baseDelayMs: number = LOGIN_RETRY_DEFAULTS.baseDelayMs,
    private readonly maxDelayMs: number = LOGIN_RETRY_DEFAULTS.maxDelayMs,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Runs `login` now, or at the gate's next opening while logins are failing; returns the step it
   * ran in, for `failed()`. Never waits longer than maxDelayMs; `close()` lets every waiter go.
   */
  enter(login: (step: number) => void): void {
    if (this.downSince === undefined || this.closed || Date.now() >= this.openAt) {
      this.begin(login);
      return;
    }
    this.waiting.push(() => this.begin(login));
    this.arm();
  }

  /** A login succeeded: the server is back, every waiting login goes now. */
  succeeded(): void {
    if (this.downSince === undefined) return;
    this.downSince = undefined;
    this.lastError = undefined;
    this.attemptsWhileDown = 0;
    this.failures = 0;
    this.step += 1;
    this.openAt = 0;
    this.releaseAll();
  }

  /** A login begun in `step` failed; a transient failure closes the gate for one more backoff step. */
  failed(step: number, error: unknown): void {
    if (!isTransientLoginError(error)) return;
    this.lastError = describeCause(error);
    this.downSince ??= Date.now();
    // The logins of one step fail together: the first lengthens the backoff, the rest find it done.
    if (step !== this.step) return;
    this.step += 1;
    this.failures += 1;
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.failures - 1, 30));
    // Equal jitter: at least half the step, so the pace never collapses to 0 (a loop).
    this.openAt = Date.now() + Math.max(1, ceiling / 2 + (this.random() * ceiling) / 2);
    this.arm();
  }

  /** Shutdown: every waiting login goes at once (and finds the pool ending), and no timer stays. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.releaseAll();
  }

  private begin(login: (step: number) => void): void {
    if (this.downSince !== undefined) this.attemptsWhileDown += 1;
    login(this.step);
  }

  private arm(): void {
    if (this.waiting.length === 0 || this.closed) return;
    clearTimeout(this.timer);
    // Bounded by maxDelayMs (a few seconds), far below setTimeout's 2^31-1 ms limit.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.releaseAll();
    }, Math.max(1, this.openAt - Date.now()));
  }

  private releaseAll(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const go of waiting) {
      try {
        go();
      } catch (thrown) {
        // One login's synchronous throw must not strand the others; it surfaces as pg would.
        process.nextTick(() => {
          throw thrown;
        });
      }
    }
  }
}

const GATES = new WeakMap<object, LoginGate>();

/** The login gate of an EntraPgPool, created on first use. */
export function loginGateOf(pool: object): LoginGate {
  let gate = GATES.get(pool);
  if (!gate) {
    gate = new LoginGate();
    GATES.set(pool, gate);
  }
  return gate;
}

/** Whether logins to an EntraPgPool's server are failing, or undefined when it has no gate. */
export function reachabilityOf(pool: object): Reachability | undefined {
  return GATES.get(pool);
}

/** A login's connect callback that tells `gate` how the login of `step` went, then answers pg-pool. */
export function reportingTo(gate: LoginGate, step: number, callback: (error: Error) => void): (error: Error) => void {
  return (error) => {
    if (error) gate.failed(step, error);
    else gate.succeeded();
    callback(error);
  };
}
