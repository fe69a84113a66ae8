import type { FetchedSecret, SecretSource } from './secret-source.interface.js';

/** A fixed password for local development; it never expires and is never fetched again. */
export class StaticSecretSource implements SecretSource {
  readonly kind = 'static';
  readonly label = 'static password';
  readonly description = 'static password';

  constructor(
    private readonly password: string,
    private readonly user: string | undefined,
  ) {}

  fetch(): Promise<FetchedSecret> {
    return Promise.resolve({ user: this.user, password: this.password, expiresAt: undefined, refreshAfter: undefined });
  }
}
