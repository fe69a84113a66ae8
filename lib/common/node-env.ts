/** How NODE_ENV reads: production, development (tests and local runs included), or neither. */
export type NodeEnvKind = 'production' | 'development' | 'unknown';

const DEVELOPMENT = new Set(['', 'development', 'dev', 'test', 'testing', 'local']);

/**
 * Reads NODE_ENV forgivingly where a mistake would be unsafe: ` production`, `PRODUCTION`,
 * `prod` and `prd` all mean production. Unset means development, as Nest and Node tooling assume.
 * Anything else (`staging`, a typo) is reported as unknown so the caller can refuse to guess.
 */
export function nodeEnvKind(value: string | undefined): NodeEnvKind {
  const normalized = (value ?? '').trim().toLowerCase();
  if (normalized.startsWith('prod') || normalized === 'prd') return 'production';
  return DEVELOPMENT.has(normalized) ? 'development' : 'unknown';
}
