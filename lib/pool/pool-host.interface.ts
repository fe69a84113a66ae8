import type { EntraPgPoolProbe } from './pool-probe.interface.js';

/**
 * What the pool's collaborators see of the EntraPgPool they work for: whether it is ending (shutdown
 * sets `ending` and `ended` on it), the metrics probe (set later by lib/metrics, so read on each
 * use) and the emitter its events go out on.
 */
export interface EntraPgPoolHost {
  readonly ending: boolean;
  readonly ended: boolean;
  readonly probe: EntraPgPoolProbe | undefined;
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}
