import { jest } from '@jest/globals';
import {
  FLEET_DEFAULTS,
  type FleetOptions,
  type IdentityRequest,
  peakPerSecond,
  secondsOver,
  simulateFleet,
  simulateWithRefreshers,
} from '../support/fleet-simulation.js';

/**
 * 1,000 replicas deployed within one minute, 24 h of 60-90 min tokens from a managed identity
 * behind MSAL's cache, 30 replicas per host. IMDS answers about 5 requests/s per VM: that is the
 * bound per host. The figures are in docs/how-it-works.md ("Refresh spread at fleet scale").
 */
const T0 = 1_800_000_000_000;
const HOUR = 3_600_000;
const IMDS_PER_HOST_PER_SECOND = 5;

function fleet(jitterRatio: number, options: Partial<FleetOptions> = {}): FleetOptions {
  return { ...FLEET_DEFAULTS, ...options, settings: { ...FLEET_DEFAULTS.settings, jitterRatio } };
}

function figures(log: IdentityRequest[]) {
  // After the first two hours every replica is past its first token: the deployment burst is over.
  const steady = 2 * HOUR;
  return {
    requests: log.length,
    peakFleet: peakPerSecond(log, () => 0),
    peakFleetSteady: peakPerSecond(log, () => 0, steady),
    peakHost: peakPerSecond(log, (r) => r.node),
    peakReplica: peakPerSecond(log, (r) => r.replica),
    hostSecondsOverLimit: secondsOver(log, IMDS_PER_HOST_PER_SECOND),
  };
}

describe('refresh spread at fleet scale (simulated)', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'], now: T0 }));
  afterEach(() => jest.useRealTimers());

  it.each([false, true])('the fast model asks at the very instants real CredentialRefreshers do (shared host cache: %s)', async (shared) => {
    const options = fleet(0.1, { replicas: 60, durationMs: 6 * HOUR, sharedHostCache: shared });
    const real = await simulateWithRefreshers(options);
    expect(real.length).toBeGreaterThan(60 * 4);
    expect(simulateFleet(options, T0)).toEqual(real);
  });

  it('keeps one token per replica per cycle: a request per replica per second at most, the deployment burst the fleet peak', () => {
    for (const jitterRatio of [0.1, 0]) {
      const f = figures(simulateFleet(fleet(jitterRatio)));
      // 24 h of 60-90 min tokens refreshed 5 min early: about 21 per replica.
      expect(f.requests).toBeGreaterThan(1_000 * 18);
      expect(f.requests).toBeLessThan(1_000 * 23);
      expect(f.peakReplica).toBe(1);
      // 1,000 first tokens in 60 s average 17/s; the peak second may be twice that, no more.
      expect(f.peakFleet).toBeLessThanOrEqual(34);
      // Then about 0.24/s on average across the fleet.
      expect(f.peakFleetSteady).toBeLessThanOrEqual(10);
      expect(f.peakHost).toBeLessThanOrEqual(IMDS_PER_HOST_PER_SECOND);
    }
  });

  it('spreads the replicas of a host that share its cached token, which without jitter all ask in the same second', () => {
    const none = figures(simulateFleet(fleet(0, { sharedHostCache: true })));
    // Every replica on a host holds the same token and asks at the same millisecond, every cycle.
    expect(none.peakHost).toBe(30);
    expect(none.hostSecondsOverLimit).toBeGreaterThan(34 * 18);
    const byDefault = figures(simulateFleet(fleet(FLEET_DEFAULTS.settings.jitterRatio, { sharedHostCache: true })));
    // 30 replicas over the 30 s the default jitter spreads them (1/s on average): a few seconds a
    // day at 6/s on some host. Spread before expiry - 5 min instead, MSAL's cache would bunch them to 8/s.
    expect(byDefault.peakHost).toBeLessThanOrEqual(6);
    expect(byDefault.hostSecondsOverLimit).toBeLessThan(10);
    expect(byDefault.peakReplica).toBe(1);
    // refresh.jitterRatio 0.3 (a 90 s window) keeps every host under the IMDS limit.
    const wider = figures(simulateFleet(fleet(0.3, { sharedHostCache: true })));
    expect(wider.peakHost).toBeLessThan(IMDS_PER_HOST_PER_SECOND);
    expect(wider.hostSecondsOverLimit).toBe(0);
  });
});
