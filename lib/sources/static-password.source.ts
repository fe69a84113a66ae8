import { printAs } from '../common/print-as.js';
import type { PgSecret, PgSecretSource } from './pg-secret-source.interface.js';

/** A fixed password, for local development: read once, never polled. Built from the `password` option. */
export class StaticPasswordSource implements PgSecretSource {
  readonly label = 'static password';
  readonly neverRotates = true;

  // A #private field is invisible to util.inspect and JSON.stringify even without printAs below.
  readonly #secret: PgSecret;

  constructor(password: string, user?: string) {
    this.#secret = { user, password };
  }

  fetch(): Promise<PgSecret> {
    return Promise.resolve(this.#secret);
  }
}

printAs(StaticPasswordSource, (source) => ({ label: source.label }));
