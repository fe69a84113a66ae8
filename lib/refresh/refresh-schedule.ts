import type { FetchedSecret } from './fetched-secret.js';

export interface RefreshSettings {
  marginMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  jitterRatio: number;
  forcedRefreshMinIntervalMs: number;
  /** How often to re-read a secret that carries no expiry (a vault's); undefined: never (a fixed password). */
  intervalMs: number | undefined;
  /** How long one fetch may take before it is abandoned (and aborted) and counted as a failure. */
  timeoutMs: number;
}

/** Below this a refresh loop would spin on a token that is about to expire. */
const MIN_DELAY_MS = 100;

/**
 * Largest delay Node's setTimeout honours (2^31-1 ms, about 24.8 days); a larger one fires after
 * 1 ms. Longer waits are armed in steps of at most this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Epoch milliseconds below this (March 1973) are almost certainly seconds passed as milliseconds. */
const SECONDS_NOT_MILLISECONDS = 100_000_000_000;

/**
 * Milliseconds until the next ahead-of-time refresh of a secret; for a secret without expiry,
 * the polling interval (undefined: never). Computed from the token's own expiry, never from a fixed interval: the identity
 * service can hand out a cached token with minutes left, and then the refresh comes early.
 */
export function refreshDelay(
  secret: Pick<FetchedSecret, 'expiresAt' | 'refreshAfter'>,
  now: number,
  settings: RefreshSettings,
  random: () => number,
): number | undefined {
  const { expiresAt, refreshAfter } = secret;
  if (expiresAt === undefined) {
    // A rotating secret without expiry is polled; replicas are spread over the interval's last part
    // so a fleet started together does not read the vault together (rate limits, cost per call).
    if (refreshAfter !== undefined && refreshAfter > now) return Math.max(MIN_DELAY_MS, Math.round(refreshAfter - now));
    if (settings.intervalMs === undefined) return undefined;
    return Math.max(MIN_DELAY_MS, Math.round(settings.intervalMs * (1 - random() * Math.min(settings.jitterRatio, 0.5))));
  }
  let delay: number;
  if (refreshAfter !== undefined && refreshAfter > now && refreshAfter < expiresAt) {
    // A caching credential (MSAL) returns the same token until refreshAfter: asking earlier gets
    // nothing new. So replicas are spread after it, within the first half of what is left.
    delay = refreshAfter - now + random() * settings.jitterRatio * ((expiresAt - refreshAfter) / 2);
  } else {
    const lifetime = Math.max(0, expiresAt - now);
    const refreshAt = expiresAt - Math.min(settings.marginMs, lifetime / 2);
    // Replicas are spread across the first part of the lead time, after expiry - margin rather than
    // before it: MSAL hands back its cached token until 5 min before expiry (the default margin),
    // so an earlier ask gets nothing new and its backoff converges on that instant, bunching the
    // replicas that share a host's identity endpoint (see the fleet simulation in the README).
    delay = refreshAt - now + random() * Math.min(settings.jitterRatio, 0.5) * (expiresAt - refreshAt);
  }
  return Math.max(MIN_DELAY_MS, Math.round(delay));
}

/** Capped exponential backoff with jitter (between half and all of the step) after `failures` failures. */
export function retryDelay(failures: number, settings: RefreshSettings, random: () => number): number {
  const step = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, failures - 1));
  return Math.max(MIN_DELAY_MS, Math.round(step * (0.5 + random() * 0.5)));
}

/**
 * Why a freshly fetched secret cannot be used as it is, or undefined when it can. A secret that is
 * already expired would otherwise be fetched again at once, in a loop.
 */
export function expiryProblem(secret: Pick<FetchedSecret, 'expiresAt'>, now: number, label: string): string | undefined {
  const { expiresAt } = secret;
  if (expiresAt === undefined || expiresAt > now) return undefined;
  if (expiresAt < SECONDS_NOT_MILLISECONDS) {
    return (
      `the ${label} expiry ${expiresAt} looks like seconds since the epoch; it must be in milliseconds ` +
      '(expiresOnTimestamp in ms, or expiresAt as new Date(seconds * 1000))'
    );
  }
  return `the ${label} handed out had already expired ${Math.round((now - expiresAt) / 1000)} s ago (an overdue rotation?)`;
}
