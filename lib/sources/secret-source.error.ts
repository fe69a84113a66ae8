/**
 * Raised by a built-in source when its answer cannot be used (a token without a usable user
 * name, a secret without a password): the message says what to change and is shown as it is,
 * under the connection's name. Anything else a source throws counts as the source failing.
 */
export class SecretSourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretSourceError';
  }
}
