import type pg from 'pg';
import { describeCause } from '../entra-pg.errors.js';
import { isTransientLoginError } from './connect-retry.js';
import { aimClient } from './pg-internals.js';

// libpq's host lists and target_session_attrs: parsing `a,b` / `name:port`, choosing each login's host,
// and checking at login that the server is of the kind asked for.

/** One server of a host list, with its own port. */
export interface HostEntry {
  host: string;
  port: number;
}

/**
 * libpq's host lists: `host` (or PGHOST) may be `a,b,c`, each entry with its own port as
 * `name:port` (`[::1]:5433` for IPv6); `ports` (PGPORT may be a list too) gives one port for every
 * host, or one per host in order. Returns the list, or a message saying what is wrong.
 */
export function parseHostList(hostText: string, ports: number[], defaultPort: number): HostEntry[] | string {
  const names = hostText.split(',').map((name) => name.trim());
  if (names.some((name) => name === '')) return `host "${hostText}" has an empty entry; separate host names with single commas.`;
  if (ports.length > 1 && ports.length !== names.length) {
    return `${ports.length} ports were given for ${names.length} host(s); give one port for all, or one per host.`;
  }
  const hosts: HostEntry[] = [];
  for (const [i, name] of names.entries()) {
    const fallback = ports.length > 1 ? ports[i]! : (ports[0] ?? defaultPort);
    const parsed = splitPort(name);
    if (typeof parsed === 'string') return parsed;
    hosts.push({ host: parsed.host, port: parsed.port ?? fallback });
  }
  return hosts;
}

function splitPort(entry: string): { host: string; port: number | undefined } | string {
  // [v6]:port, or [v6]
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: toPort(bracketed[2]) };
  const colons = entry.split(':').length - 1;
  // A bare IPv6 address has several colons and no port; a Unix socket path has none.
  if (colons !== 1 || entry.startsWith('/')) return { host: entry, port: undefined };
  const [host, port] = entry.split(':') as [string, string];
  const value = toPort(port);
  if (value === undefined || host === '') return `host entry "${entry}" must be name or name:port, with a port from 1 to 65535.`;
  return { host, port: value };
}

function toPort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** `a:5432,b:5433`, for messages. */
export function describeHosts(hosts: readonly HostEntry[]): string {
  return hosts.map(({ host, port }) => `${host}:${port}`).join(',');
}

/** libpq's target_session_attrs. */
export const TARGET_SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'] as const;
export type TargetSessionAttrs = (typeof TARGET_SESSION_ATTRS)[number];
/** libpq 16's load_balance_hosts. */
export type LoadBalanceHosts = 'disable' | 'random';

/** How long a host that failed a login is skipped while another host can be tried. */
const SKIP_FAILED_HOST_MS = 2_000;
/** How long what a login learned of a host (standby, read-only) is trusted before it is checked again. */
const HOST_KIND_TTL_MS = 5_000;

/** What a login learned of a server. */
interface ServerKind {
  /** in_hot_standby (or pg_is_in_recovery()). */
  standby: boolean;
  /** default_transaction_read_only, or standby (or SHOW transaction_read_only). */
  readOnly: boolean;
}

interface HostState {
  entry: HostEntry;
  kind: ServerKind | undefined;
  kindUntil: number;
  downUntil: number;
  /** Why this host was last passed over, for the error that names every host. */
  reason: string | undefined;
}

/** A login reached a server that does not fit `targetSessionAttrs`; another host is tried at once. */
export class WrongSessionTypeError extends Error {
  constructor(
    readonly entry: HostEntry,
    reason: string,
  ) {
    super(`${entry.host}:${entry.port} ${reason}`);
  }
}

/** No host of the list can take a login now: the message names every host with its own reason. */
export class NoHostFitsError extends Error {
  // A condition that passes (a failover under way, hosts restarting): the caller rides through it.
  readonly transient = true;
}

function fits(target: TargetSessionAttrs, kind: ServerKind): boolean {
  switch (target) {
    case 'read-write':
      return !kind.readOnly;
    case 'read-only':
      return kind.readOnly;
    case 'primary':
      return !kind.standby;
    case 'standby':
      return kind.standby;
    default:
      return true;
  }
}

function describeKind(kind: ServerKind): string {
  return kind.standby ? 'is a standby' : kind.readOnly ? 'is a read-only primary' : 'is a read-write primary';
}

/**
 * Chooses the server of each new connection from a host list, as libpq does with several hosts and
 * target_session_attrs: hosts in order (or shuffled, loadBalanceHosts 'random'), a host whose login
 * failed skipped for a while, a host known not to fit skipped until its kind is checked again. The
 * check costs no round trip on PostgreSQL 14+ (the ParameterStatus messages of the login); older
 * servers answer one query.
 */
export class HostSelector {
  private readonly states: HostState[];

  constructor(
    hosts: readonly HostEntry[],
    readonly target: TargetSessionAttrs,
    private readonly loadBalance: LoadBalanceHosts,
    private readonly random: () => number = Math.random,
  ) {
    this.states = hosts.map((entry) => ({ entry, kind: undefined, kindUntil: 0, downUntil: 0, reason: undefined }));
  }

  /** Whether there is anything to choose or check: one host and `any` is pg's plain behaviour. */
  get trivial(): boolean {
    return this.states.length === 1 && this.target === 'any';
  }

  /** The host a new login should try, or a NoHostFitsError naming every host with its reason. */
  pick(): HostEntry | NoHostFitsError {
    const now = Date.now();
    const order = this.order();
    const up = order.filter((state) => state.downUntil <= now);
    const known = (state: HostState) => state.kind !== undefined && state.kindUntil > now;
    const fitting = (state: HostState) => !known(state) || fits(this.target, state.kind!);
    if (this.target === 'prefer-standby') {
      // A known standby, then a host not yet known, then a primary as the fallback.
      const choice =
        up.find((state) => known(state) && state.kind!.standby) ?? up.find((state) => !known(state)) ?? up[0];
      if (choice) return choice.entry;
    } else {
      const choice = up.find(fitting);
      if (choice) return choice.entry;
    }
    // Every host failed a login lately: try the one whose skip ends first rather than none (the
    // login gate paces these), unless every host is up and known not to fit.
    const down = order.filter((state) => state.downUntil > now && fitting(state)).sort((a, b) => a.downUntil - b.downUntil);
    if (down[0]) return down[0].entry;
    // The error the caller finally gets names every host with its reason (describe()).
    return new NoHostFitsError(`no host fits target_session_attrs=${this.target}`);
  }

  /** Every host with why it was last passed over. */
  describe(): string {
    return this.states.map((s) => `${s.entry.host}:${s.entry.port} (${s.reason ?? 'not tried'})`).join('; ');
  }

  /** A login to `entry` failed. */
  failed(entry: HostEntry, error: unknown): void {
    const state = this.stateOf(entry);
    if (!state) return;
    state.reason = describeCause(error);
    if (isTransientLoginError(error)) state.downUntil = Date.now() + SKIP_FAILED_HOST_MS;
  }

  /**
   * A login to `entry` succeeded: learns the server's kind (from its ParameterStatus messages or
   * one query) and calls back with nothing when it fits, or with a WrongSessionTypeError.
   */
  judge(entry: HostEntry, client: pg.Client, reported: ReadonlyMap<string, string>, callback: (error?: Error) => void): void {
    const state = this.stateOf(entry);
    if (!state || this.target === 'any') return callback();
    const decide = (kind: ServerKind) => {
      state.kind = kind;
      state.kindUntil = Date.now() + HOST_KIND_TTL_MS;
      state.downUntil = 0;
      if (this.target === 'prefer-standby' && !kind.standby && this.standbyMayExist(state)) {
        state.reason = describeKind(kind);
        return callback(new WrongSessionTypeError(entry, `${describeKind(kind)}; a standby is preferred`));
      }
      if (this.target === 'prefer-standby' || fits(this.target, kind)) return callback();
      state.reason = `${describeKind(kind)} (target_session_attrs=${this.target})`;
      callback(new WrongSessionTypeError(entry, state.reason));
    };
    const hotStandby = reported.get('in_hot_standby');
    const readOnly = reported.get('default_transaction_read_only');
    if (hotStandby !== undefined && readOnly !== undefined) {
      const standby = hotStandby === 'on';
      return decide({ standby, readOnly: standby || readOnly === 'on' });
    }
    // PostgreSQL before 14 does not report them: ask, as libpq does.
    try {
      client.query(
        "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') = 'on' AS read_only",
        (error: Error | null, result: pg.QueryResult<{ standby: boolean; read_only: boolean }> | undefined) => {
          const row = result?.rows[0];
          if (error || !row) return callback(error ?? new Error('the server did not say whether it is a standby'));
          decide({ standby: row.standby, readOnly: row.standby || row.read_only });
        },
      );
    } catch (error) {
      callback(error as Error);
    }
  }

  /** Whether another host, up, could still be a standby (known to be one, or not known yet). */
  private standbyMayExist(except: HostState): boolean {
    const now = Date.now();
    return this.states.some(
      (state) => state !== except && state.downUntil <= now && (state.kind === undefined || state.kindUntil <= now || state.kind.standby),
    );
  }

  private order(): HostState[] {
    if (this.loadBalance !== 'random') return this.states;
    const shuffled = [...this.states];
    for (let i = shuffled.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    return shuffled;
  }

  private stateOf(entry: HostEntry): HostState | undefined {
    return this.states.find((state) => state.entry === entry);
  }

}

/**
 * Logs `client` in on the host `selector` picks and checks the server fits the target; `login` is
 * pg's own connect. A server that does not fit is logged out again and the caller told to try the
 * next host (WrongSessionTypeError).
 */
export function loginOnTarget(
  selector: HostSelector,
  client: pg.Client,
  /** The read-only settings the server reports at login, as the client records them (tracked-client.ts). */
  reported: ReadonlyMap<string, string>,
  login: (done: (error: Error) => void) => void,
  callback: (error: Error) => void,
  /** Told when no host can take a login now, so the next login waits a backoff step (no loop). */
  noHost: (error: NoHostFitsError) => void,
): void {
  if (selector.trivial) return login(callback);
  const entry = selector.pick();
  if (entry instanceof Error) {
    noHost(entry);
    return callback(entry);
  }
  aimClient(client, entry.host, entry.port);
  login((error) => {
    if (error) {
      selector.failed(entry, error);
      return callback(error);
    }
    selector.judge(entry, client, reported, (mismatch) => {
      if (mismatch) client.end().catch(() => undefined);
      // pg's connect callbacks are typed (err: Error) and called with nothing on success.
      callback(mismatch as Error);
    });
  });
}
