import { redact, scrubbedCopy } from './common/redact.js';

/**
 * Base class of every error this library raises; `connectionName` says which pool it came from.
 * A cause is kept as a redacted copy: Nest prints the whole chain (`util.inspect`, causes and own
 * properties) when bootstrap fails and in its exception filter, and a credential library may have
 * echoed a token into a message or a response-body property of the original error.
 */
export class EntraPgError extends Error {
  constructor(
    message: string,
    readonly connectionName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options && 'cause' in options ? { cause: safeCause(options.cause) } : undefined);
    this.name = new.target.name;
  }
}

/** The module options cannot work; raised at bootstrap. */
export class EntraPgConfigError extends EntraPgError {}

/** No usable secret: the token has expired (or was never fetched) and getting a new one failed. */
export class EntraPgCredentialError extends EntraPgError {}

/** The pool is shutting down: no new connections, queued callers are released with this error. */
export class EntraPgShutdownError extends EntraPgError {}

/**
 * PostgreSQL refused the login even with a freshly fetched secret: the role is missing, a pg_hba
 * rule rejects it, or the identity is not mapped to the role. `code` is the server's SQLSTATE.
 */
export class EntraPgLoginRefusedError extends EntraPgError {
  constructor(
    message: string,
    connectionName: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, connectionName, options);
  }
}

function safeCause(cause: unknown): unknown {
  // Our own errors were scrubbed when they were made.
  if (cause instanceof EntraPgError) return cause;
  try {
    return scrubbedCopy(cause);
  } catch {
    // A throwing getter or a hostile proxy: keep nothing of it.
    return new Error('[the original error could not be read]');
  }
}

/**
 * Describes an unknown thrown value in one line, for logs and error messages. Credential libraries
 * sometimes echo a response body; JWT-shaped strings and known secrets are cut out so a secret never
 * reaches a log.
 */
export function describeCause(cause: unknown): string {
  let text: string;
  try {
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      text = `${cause.name}: ${cause.message}${typeof code === 'string' ? ` (${code})` : ''}`;
    } else {
      text = String(cause);
    }
  } catch {
    text = '[an error that could not be read]';
  }
  return redact(text, 500);
}
