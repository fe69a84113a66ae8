import { printAs } from '../common/print-as.js';
import type { FetchedSecret, SecretSource } from './secret-source.interface.js';

/** A fixed password for local development; it never expires and is never fetched again. */
export class StaticSecretSource implements SecretSource {
  readonly kind = 'static';
  readonly label = 'static password';
  readonly description = 'static password';

  // A #private field is invisible to util.inspect and JSON.stringify even without printAs below.
  readonly #password: string;

  constructor(
    password: string,
    private readonly user: string | undefined,
  ) {
    this.#password = password;
  }

  fetch(): Promise<FetchedSecret> {
    return Promise.resolve({ user: this.user, password: this.#password, expiresAt: undefined, refreshAfter: undefined });
  }
}

// It holds a secret or a credential object that may hold one: print what it is, not what it has.
printAs(StaticSecretSource, (source) => ({ kind: source.kind, description: source.description }));
