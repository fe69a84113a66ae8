import { inspect } from 'node:util';

/**
 * Makes every instance of `type` print (util.inspect at any depth, and so Nest's logger) and
 * serialize (JSON.stringify) as `summary(instance)` only. For objects that hold a secret somewhere
 * below them (a cached token, a password, a user's credential object with its own secrets):
 * `logger.debug(pool)` must never walk down to it.
 */
export function printAs<T extends object>(
  type: abstract new (...args: never[]) => T,
  summary: (instance: T) => Record<string, unknown>,
): void {
  Object.defineProperty(type.prototype, inspect.custom, {
    configurable: true,
    value(this: T, _depth: number, options: object) {
      return `${type.name} ${inspect(summary(this), { ...options, depth: 1 })}`;
    },
  });
  Object.defineProperty(type.prototype, 'toJSON', {
    configurable: true,
    value(this: T) {
      return summary(this);
    },
  });
}
