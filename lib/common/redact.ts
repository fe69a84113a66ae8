/**
 * Cuts secrets out of text before it reaches a log, an error message or a printed error chain.
 * Two kinds are removed: anything shaped like a JWT (Entra tokens, even split across lines), and
 * the exact secrets this process has fetched (vault secrets, static passwords, tokens), which
 * the refresher registers here. Every step is a single linear pass over input of bounded length,
 * because it runs on every failed fetch, over text a remote service chose.
 */

/** Longest input looked at; the rest is dropped before any scan. */
const MAX_INPUT = 16 * 1024;
/** Secrets remembered, newest last: enough for every connection's current and previous secret. */
const MAX_KNOWN = 32;
/** Longer values are not kept; a JWT that long is still caught by its shape. */
const MAX_SECRET_LENGTH = 8 * 1024;
/** Shorter values would cut ordinary words out of messages and protect nothing. */
const MIN_SECRET_LENGTH = 4;

const REDACTED_TOKEN = '[redacted token]';
const REDACTED_SECRET = '[redacted secret]';

/**
 * A JWT's header is base64url of `{"`, so it starts with `eyJ`; from there, everything made of
 * base64url characters, dots and line breaks is taken. One greedy character class: no backtracking.
 */
const JWT_LIKE = /(?<![\w-])eyJ[\w\-.\r\n]{6,}/g;

const known: string[] = [];

/** Remembers a secret so that redact() removes it wherever it appears. Bounded: the oldest are forgotten. */
export function rememberSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH) return;
  const at = known.indexOf(secret);
  if (at !== -1) known.splice(at, 1);
  known.push(secret);
  if (known.length > MAX_KNOWN) known.shift();
}

/** Removes JWT-shaped strings and remembered secrets from `text`, then cuts it to `maxLength`. */
export function redact(text: string, maxLength = 500): string {
  let bounded = text;
  if (bounded.length > MAX_INPUT) {
    // A remembered secret cut in two by the limit would no longer match: cut before it instead.
    let cut = MAX_INPUT;
    const base = MAX_INPUT - MAX_SECRET_LENGTH;
    const around = bounded.slice(base, MAX_INPUT + MAX_SECRET_LENGTH);
    for (const secret of known) {
      const at = around.indexOf(secret, MAX_SECRET_LENGTH - secret.length + 1);
      if (at !== -1 && base + at < cut) cut = base + at;
    }
    bounded = `${bounded.slice(0, cut)}…`;
  }
  bounded = bounded.replace(JWT_LIKE, REDACTED_TOKEN);
  for (const secret of known) {
    if (bounded.includes(secret)) bounded = bounded.split(secret).join(REDACTED_SECRET);
  }
  return bounded.length > maxLength ? `${bounded.slice(0, maxLength)}…` : bounded;
}

/** How deep a chain of causes (or nested details) is kept; deeper parts are dropped. */
const MAX_DEPTH = 4;
/** Own properties kept per object. */
const MAX_KEYS = 20;

/**
 * A copy of a thrown value that is safe to attach as an error's `cause`: same class (so
 * `instanceof` and the printed name still work), with its message, stack, own properties and
 * causes redacted. Values that are neither errors nor plain data become a short description.
 */
export function scrubbedCopy(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return redact(value, 2000);
  if (typeof value !== 'object') return `[${typeof value}]`;
  if (depth >= MAX_DEPTH) return '[details removed]';
  if (value instanceof Error) return scrubbedError(value, depth);
  const proto: unknown = Object.getPrototypeOf(value);
  if (Array.isArray(value)) return value.slice(0, MAX_KEYS).map((item) => scrubbedCopy(item, depth + 1));
  if (proto !== Object.prototype && proto !== null) return `[${constructorName(value)}]`;
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, MAX_KEYS)
      .map(([key, item]) => [key, scrubbedCopy(item, depth + 1)]),
  );
}

function scrubbedError(error: Error, depth: number): Error {
  // Reflect.construct makes a real Error (util.inspect prints it as one) with the original class's
  // prototype, without running that class's constructor on untrusted arguments.
  const target = typeof error.constructor === 'function' && error instanceof error.constructor ? error.constructor : Error;
  const copy = Reflect.construct(Error, [redact(String(error.message), 2000)], target) as Error;
  const hidden = (key: string, item: unknown) =>
    Object.defineProperty(copy, key, { value: item, writable: true, configurable: true, enumerable: false });
  if (Object.hasOwn(error, 'name')) hidden('name', redact(String(error.name), 200));
  hidden('stack', typeof error.stack === 'string' ? redact(error.stack, 4000) : undefined);
  for (const [key, item] of Object.entries(error).slice(0, MAX_KEYS)) {
    if (key === 'cause' || key === 'message' || key === 'stack') continue;
    (copy as unknown as Record<string, unknown>)[key] = scrubbedCopy(item, depth + 1);
  }
  if ('cause' in error) hidden('cause', scrubbedCopy(error.cause, depth + 1));
  if (error instanceof AggregateError) hidden('errors', scrubbedCopy(error.errors, depth + 1));
  return copy;
}

function constructorName(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? redact(name, 100) : 'object';
}
