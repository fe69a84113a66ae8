import { jest } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import type { FetchedSecret, SecretReader } from '../../lib/refresh/fetched-secret.js';
import { CredentialRefresher } from '../../lib/refresh/credential-refresher.js';
import { seededRandom } from './seeded-random.js';
import { DEFAULT_REFRESH_SETTINGS } from '../../lib/options/entra-pg.defaults.js';
import { type RefreshSettings, refreshDelay, retryDelay } from '../../lib/refresh/refresh-schedule.js';

/**
 * A deployment of replicas asking a managed identity for tokens, as a discrete-event simulation.
 * The schedule is the library's own (refreshDelay, retryDelay and the refresher's backoff on an
 * unchanged token); `simulateWithRefreshers` runs the real CredentialRefresher on Jest's fake
 * clock for a small fleet, to show that the fast model and the refresher ask at the same instants.
 */

const MINUTE = 60_000;
/** MSAL treats a cached token as expired this long before its expiry; the modelled host endpoint does the same. */
const RENEWAL_OFFSET_MS = 5 * MINUTE;

export interface FleetOptions {
  replicas: number;
  /** Replicas on one host, sharing one identity endpoint (IMDS is rate-limited per VM). */
  replicasPerNode: number;
  /** Replicas start uniformly within this window (a deployment). */
  startWindowMs: number;
  durationMs: number;
  /** Token lifetimes are drawn uniformly from this range on every issue. */
  lifetimeMs: [number, number];
  /**
   * true: a host's identity endpoint hands every replica on it the token it has cached until that
   * token is within 5 min of expiry (the replicas of a node then hold the same token);
   * false: every request is answered with a token of its own.
   */
  sharedHostCache: boolean;
  settings: RefreshSettings;
  seed: number;
}

/** One request that reached an identity endpoint. */
export interface IdentityRequest {
  at: number;
  replica: number;
  node: number;
}

export const FLEET_DEFAULTS: FleetOptions = {
  replicas: 1_000,
  replicasPerNode: 30,
  startWindowMs: MINUTE,
  durationMs: 24 * 60 * MINUTE,
  lifetimeMs: [60 * MINUTE, 90 * MINUTE],
  sharedHostCache: false,
  settings: DEFAULT_REFRESH_SETTINGS,
  seed: 11,
};

/** One host's managed-identity endpoint; with a shared cache, hands back its cached token. */
class IdentityEndpoint {
  private cached: FetchedSecret | undefined;
  private issued = 0;
  private readonly nodeRandom: () => number;
  constructor(
    private readonly node: number,
    private readonly options: FleetOptions,
    private readonly log: IdentityRequest[],
  ) {
    this.nodeRandom = seededRandom(options.seed * 7_919 + node + 1);
  }

  request(replica: number, replicaRandom: () => number, now: number): FetchedSecret {
    this.log.push({ at: now, replica, node: this.node });
    const cached = this.cached;
    if (this.options.sharedHostCache && cached && now < cached.expiresAt! - RENEWAL_OFFSET_MS) return cached;
    const [shortest, longest] = this.options.lifetimeMs;
    // Lifetimes come from the node's own sequence when tokens are shared, else from the replica's:
    // either way independent of the order in which same-instant requests are served.
    const random = this.options.sharedHostCache ? this.nodeRandom : replicaRandom;
    this.issued += 1;
    this.cached = {
      user: 'app',
      password: `token-${this.node}-${replica}-${this.issued}`,
      expiresAt: now + shortest + Math.floor(random() * (longest - shortest)),
      // MSAL sets refreshAfter only for tokens over 2 h; these live 60-90 min.
      refreshAfter: undefined,
    };
    return this.cached;
  }
}

/** ManagedIdentityCredential over MSAL: an in-process cache that goes to the endpoint within 5 min of expiry. */
class MsalLikeCredential implements SecretReader {
  readonly label = 'Entra token';
  readonly description = 'simulated managed identity';
  calls = 0;
  private held: FetchedSecret | undefined;
  private readonly lifetimeRandom: () => number;
  constructor(
    private readonly replica: number,
    private readonly endpoint: IdentityEndpoint,
    seed: number,
  ) {
    this.lifetimeRandom = seededRandom(seed * 104_729 + replica + 1);
  }
  get(now: number): FetchedSecret {
    this.calls += 1;
    if (!this.held || now >= this.held.expiresAt! - RENEWAL_OFFSET_MS) {
      this.held = this.endpoint.request(this.replica, this.lifetimeRandom, now);
    }
    return this.held;
  }
  fetch(): Promise<FetchedSecret> {
    return Promise.resolve({ ...this.get(Date.now()) });
  }
}

interface Deployment {
  credentials: MsalLikeCredential[];
  /** Each replica's start time, relative to the start of the run. */
  startsAt: number[];
  /** Each replica's own random sequence for the refresher's jitter. */
  randoms: Array<() => number>;
  log: IdentityRequest[];
}

function deploy(options: FleetOptions): Deployment {
  const log: IdentityRequest[] = [];
  const endpoints: IdentityEndpoint[] = [];
  const starts = seededRandom(options.seed);
  const deployment: Deployment = { credentials: [], startsAt: [], randoms: [], log };
  for (let i = 0; i < options.replicas; i += 1) {
    const node = Math.floor(i / options.replicasPerNode);
    endpoints[node] ??= new IdentityEndpoint(node, options, log);
    deployment.credentials.push(new MsalLikeCredential(i, endpoints[node], options.seed));
    deployment.startsAt.push(Math.floor(starts() * options.startWindowMs));
    deployment.randoms.push(seededRandom(options.seed * 31 + i * 2 + 1));
  }
  return deployment;
}

/** A binary min-heap of (time, sequence, replica). */
class EventQueue {
  private readonly heap: Array<[number, number, number]> = [];
  private seq = 0;
  get size(): number {
    return this.heap.length;
  }
  push(at: number, replica: number): void {
    const h = this.heap;
    h.push([at, (this.seq += 1), replica]);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }
  pop(): [number, number, number] {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: [number, number, number], b: [number, number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * The fast model: each replica's next fetch is scheduled exactly as CredentialRefresher.succeeded()
 * does (the credential never fails here, so retryDelay appears only as the backoff on an unchanged token).
 */
export function simulateFleet(options: FleetOptions, start = 0): IdentityRequest[] {
  const { credentials, startsAt, randoms, log } = deploy(options);
  const held: Array<FetchedSecret | undefined> = [];
  const unchangedInARow: number[] = [];
  const queue = new EventQueue();
  startsAt.forEach((at, i) => queue.push(start + at, i));
  const end = start + options.durationMs;
  while (queue.size > 0) {
    const [now, , i] = queue.pop();
    if (now >= end) break;
    const secret = credentials[i].get(now);
    const unchanged = held[i]?.password === secret.password;
    held[i] = secret;
    unchangedInARow[i] = unchanged ? (unchangedInARow[i] ?? 0) + 1 : 0;
    let delay = refreshDelay(secret, now, options.settings, randoms[i])!;
    if (unchanged) delay = Math.max(delay, retryDelay(unchangedInARow[i], options.settings, randoms[i]));
    queue.push(now + delay, i);
  }
  return log;
}

const silent = { log() {}, debug() {}, warn() {}, error() {}, verbose() {} } as unknown as Logger;

/**
 * The same deployment driven by real CredentialRefresher instances on Jest's fake clock (the caller
 * has called jest.useFakeTimers with setImmediate left real). Slow: for small fleets.
 */
export async function simulateWithRefreshers(options: FleetOptions): Promise<IdentityRequest[]> {
  const { credentials, startsAt, randoms, log } = deploy(options);
  const refreshers = credentials.map(
    (credential, i) => new CredentialRefresher(credential, options.settings, `replica-${i}`, silent, () => Date.now(), randoms[i]),
  );
  const end = Date.now() + options.durationMs;
  // As the module does at start-up.
  refreshers.forEach((r, i) => setTimeout(() => void r.fetchNow(), startsAt[i]));
  try {
    while (Date.now() < end) {
      jest.advanceTimersToNextTimer();
      // Let the fetches the fired timers started settle (the credential answers in a microtask).
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    for (const r of refreshers) r.stop();
  }
  return log.filter((request) => request.at < end);
}

/** The most requests in any one second, grouped by `key` (the whole fleet, a node, a replica), from `from` on. */
export function peakPerSecond(log: IdentityRequest[], key: (r: IdentityRequest) => number, from = Number.NEGATIVE_INFINITY): number {
  const counts = new Map<string, number>();
  let peak = 0;
  for (const r of log) {
    if (r.at < from) continue;
    const k = `${key(r)}@${Math.floor(r.at / 1000)}`;
    const n = (counts.get(k) ?? 0) + 1;
    counts.set(k, n);
    if (n > peak) peak = n;
  }
  return peak;
}

/** Node-seconds in which one host's endpoint got more than `limit` requests. */
export function secondsOver(log: IdentityRequest[], limit: number): number {
  const counts = new Map<string, number>();
  for (const r of log) {
    const k = `${r.node}@${Math.floor(r.at / 1000)}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.values()].filter((n) => n > limit).length;
}
