import { printAs } from '../common/print-as.js';
import type { PgSecret, PgSecretSource } from './pg-secret-source.interface.js';

export interface CallbackSourceOptions {
  /** What one secret is called in logs and health: "Vault secret", "Key Vault secret". Default "secret". */
  label?: string;
  /** Where secrets come from, for logs and errors. Default: the label. */
  description?: string;
}

/**
 * A secret from a function of yours: a vault client, Key Vault secrets, a file a sidecar
 * rewrites. Replaces 0.1's `credentials: { getCredentials }` option.
 */
export class CallbackSource implements PgSecretSource {
  readonly label: string;
  readonly description: string;

  constructor(
    private readonly read: (signal: AbortSignal) => Promise<PgSecret>,
    options: CallbackSourceOptions = {},
  ) {
    this.label = options.label ?? 'secret';
    this.description = options.description ?? `${this.label} callback`;
  }

  fetch(signal: AbortSignal): Promise<PgSecret> {
    return this.read(signal);
  }
}

printAs(CallbackSource, (source) => ({ label: source.label, description: source.description }));
