import { redact, scrubbedCopy } from './common/redact.js';

/**
 * What went wrong, for code that branches on it: stable across releases, and unlike `instanceof`
 * it also holds when the app loads both the ESM and the CommonJS build of this package.
 */
export type EntraPgErrorCode =
  /** Connecting at bootstrap failed after every attempt (EntraPgError). */
  | 'ENTRA_PG_CONNECT_FAILED'
  /** The options cannot work (EntraPgConfigError). */
  | 'ENTRA_PG_CONFIG'
  /** No usable secret: it expired or was never fetched, and the source is failing (EntraPgCredentialError). */
  | 'ENTRA_PG_CREDENTIAL'
  /** PostgreSQL refused the login even with a fresh secret (EntraPgLoginRefusedError). */
  | 'ENTRA_PG_LOGIN_REFUSED'
  /** The pool is shutting down (EntraPgShutdownError). */
  | 'ENTRA_PG_SHUTDOWN'
  /** No connection could be opened before the caller's deadline: the server was unreachable or restarting (EntraPgUnreachableError). */
  | 'ENTRA_PG_UNREACHABLE';

/**
 * Base class of every error this library raises; `connectionName` says which pool it came from.
 * A cause is kept as a redacted copy: Nest prints the whole chain (`util.inspect`, causes and own
 * properties) when bootstrap fails and in its exception filter, and a credential library may have
 * echoed a token into a message or a response-body property of the original error.
 */
export class EntraPgError extends Error {
  readonly code: EntraPgErrorCode = 'ENTRA_PG_CONNECT_FAILED';

  constructor(
    message: string,
    readonly connectionName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options && 'cause' in options ? { cause: safeCause(options.cause) } : undefined);
    this.name = new.target.name;
  }
}

/** The options cannot work; raised at bootstrap. */
export class EntraPgConfigError extends EntraPgError {
  override readonly code = 'ENTRA_PG_CONFIG';
}

/** No usable secret: the token has expired (or was never fetched) and getting a new one failed. */
export class EntraPgCredentialError extends EntraPgError {
  override readonly code = 'ENTRA_PG_CREDENTIAL';
}

/** The pool is shutting down: no new connections, queued callers are released with this error. */
export class EntraPgShutdownError extends EntraPgError {
  override readonly code = 'ENTRA_PG_SHUTDOWN';
}

/**
 * A caller needed a new connection and every login until its deadline (pool.connectionTimeoutMillis)
 * failed for a reason that usually passes: the server down, restarting, full or unreachable. The
 * `cause` is the last login error.
 */
export class EntraPgUnreachableError extends EntraPgError {
  override readonly code = 'ENTRA_PG_UNREACHABLE';
}

/**
 * PostgreSQL refused the login even with a freshly fetched secret: the role is missing, a pg_hba
 * rule rejects it, or the identity is not mapped to the role. `sqlState` is the server's SQLSTATE.
 */
export class EntraPgLoginRefusedError extends EntraPgError {
  override readonly code = 'ENTRA_PG_LOGIN_REFUSED';

  constructor(
    message: string,
    connectionName: string,
    /** The server's SQLSTATE: 28P01 (password authentication failed) or 28000 (invalid authorization). */
    readonly sqlState: string | undefined,
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
      // A server's SQLSTATE or a system error code says more than its message; ours repeat the class name.
      const code = cause instanceof EntraPgError ? undefined : (cause as { code?: unknown }).code;
      text = `${cause.name}: ${cause.message}${typeof code === 'string' ? ` (${code})` : ''}`;
    } else {
      text = String(cause);
    }
  } catch {
    text = '[an error that could not be read]';
  }
  return redact(text, 500);
}
