import { createRequire } from 'node:module';
import type { Provider } from '@nestjs/common';
import { EntraPgHealthIndicator } from './entra-pg.health.js';

/** @nestjs/terminus is an optional peer: the indicator is provided only where it can be resolved. */
export function isTerminusInstalled(resolveFrom: string = import.meta.url): boolean {
  try {
    createRequire(resolveFrom).resolve('@nestjs/terminus');
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'MODULE_NOT_FOUND';
  }
}

export function healthIndicatorProviders(): Provider[] {
  return isTerminusInstalled() ? [EntraPgHealthIndicator] : [];
}
