import { printAs } from '../common/print-as.js';
import type { PgSecret, PgSecretSource } from './pg-secret-source.interface.js';
import { SecretSourceError } from './secret-source.error.js';

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
    // Checked here, not at the first fetch: a wrong argument would otherwise surface as "this.read is
    // not a function" after every start-up attempt.
    if (typeof read !== 'function') {
      throw new SecretSourceError(
        'CallbackSource: the first argument must be a function (signal) => Promise<{ password, user?, expiresAt?, refreshAfter? }>; ' +
          "for 0.1's `credentials: { getCredentials }`, pass (signal) => vault.getCredentials({ abortSignal: signal }).",
      );
    }
    if (options.label !== undefined && (typeof options.label !== 'string' || options.label.trim() === '')) {
      throw new SecretSourceError('CallbackSource: `label` must be a non-empty string ("vault secret"), or left out.');
    }
    this.label = options.label ?? 'secret';
    this.description = options.description ?? `${this.label} callback`;
  }

  fetch(signal: AbortSignal): Promise<PgSecret> {
    return this.read(signal);
  }
}

printAs(CallbackSource, (source) => ({ label: source.label, description: source.description }));
