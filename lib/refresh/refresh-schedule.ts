import type { FetchedSecret } from '../credentials/secret-source.interface.js';

export interface RefreshSettings {
  marginMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  jitterRatio: number;
  forcedRefreshMinIntervalMs: number;
  /** How often to re-read a secret that carries no expiry (vault); undefined: never. */
  intervalMs: number | undefined;
}

export const DEFAULT_REFRESH_SETTINGS: RefreshSettings = {
  marginMs: 5 * 60_000,
  retryBaseMs: 1_000,
  retryMaxMs: 30_000,
  jitterRatio: 0.1,
  forcedRefreshMinIntervalMs: 1_000,
  intervalMs: 5 * 60_000,
};

/** Below this a refresh loop would spin on a token that is about to expire. */
const MIN_DELAY_MS = 100;

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
  if (expiresAt === undefined) return settings.intervalMs;
  const lifetime = Math.max(0, expiresAt - now);
  const refreshAt =
    refreshAfter !== undefined && refreshAfter > now && refreshAfter < expiresAt
      ? refreshAfter
      : expiresAt - Math.min(settings.marginMs, lifetime / 2);
  // Spread replicas across part of the lead time so they do not all ask the identity service at once.
  const lead = expiresAt - refreshAt;
  const delay = refreshAt - now - random() * settings.jitterRatio * lead;
  return Math.max(MIN_DELAY_MS, Math.round(delay));
}

/** Capped exponential backoff with jitter (between half and all of the step) after `failures` failures. */
export function retryDelay(failures: number, settings: RefreshSettings, random: () => number): number {
  const step = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, failures - 1));
  return Math.max(MIN_DELAY_MS, Math.round(step * (0.5 + random() * 0.5)));
}
