/** Base class of every error this library raises; `connectionName` says which pool it came from. */
export class EntraPgError extends Error {
  constructor(
    message: string,
    readonly connectionName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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

const JWT_LIKE = /eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g;

/**
 * Describes an unknown thrown value in one line, for logs and error messages. Credential libraries
 * sometimes echo a response body; anything shaped like a JWT is cut out so a token never reaches a log.
 */
export function describeCause(cause: unknown): string {
  let text: string;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    text = `${cause.name}: ${cause.message}${typeof code === 'string' ? ` (${code})` : ''}`;
  } else {
    text = String(cause);
  }
  text = text.replace(JWT_LIKE, '[redacted token]');
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
