import { EntraPgConfigError } from '../entra-pg.errors.js';
import { MAX_TIMER_MS } from '../refresh/refresh-schedule.js';

export interface NumberRule {
  integer?: boolean;
  positive?: boolean;
  max?: number;
}

/**
 * Reads one connection's raw options with one wording for every problem:
 * `EntraPgModule "<name>": <option> must be …`. No value is ever echoed (it may be a secret).
 */
export class OptionReader {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly connectionName: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  fail(message: string): EntraPgConfigError {
    return new EntraPgConfigError(`EntraPgModule "${this.connectionName}": ${message}`, this.connectionName);
  }

  /** A nested options object (`pool`, `refresh`, `pg`); absent reads as empty. */
  object(key: string): Record<string, unknown> {
    const value = this.raw[key];
    if (value === undefined) return {};
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw this.fail(`${key} must be an object.`);
    return value as Record<string, unknown>;
  }

  text(value: unknown, name: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '') throw this.fail(`${name} must be a non-empty string.`);
    return value;
  }

  flag(key: string, fallback: boolean): boolean {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'boolean') throw this.fail(`${key} must be true or false.`);
    return value;
  }

  /** Every duration ends up in a setTimeout, which fires after 1 ms for anything above 2^31-1 ms. */
  number(value: unknown, name: string, fallback: number, { integer = false, positive = false, max = MAX_TIMER_MS }: NumberRule = {}): number {
    if (value === undefined) return fallback;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!integer || Number.isInteger(value)) &&
      (positive ? value > 0 : value >= 0) &&
      value <= max;
    if (!ok) throw this.fail(`${name} must be ${positive ? 'a positive' : 'a non-negative'} ${integer ? 'integer' : 'number'} of at most ${max}.`);
    return value as number;
  }

  /** A libpq variable; an empty one counts as unset, as in pg (PGAPPNAME= in an env file). */
  fromEnv(name: string): string | undefined {
    return this.env[name]?.trim() ? this.env[name] : undefined;
  }
}
