/** SQLSTATEs of a rejected login: invalid_password and invalid_authorization_specification. */
const LOGIN_REJECTED = new Set(['28P01', '28000']);

/** Severities after which the server has closed the session (57P01 terminate, 57P02, 57P03, failover). */
const CONNECTION_GONE = new Set(['FATAL', 'PANIC']);

export function isLoginRejected(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && LOGIN_REJECTED.has(code);
}

/** SQLSTATEs of a session the server ended: admin_shutdown, crash_shutdown, cannot_connect_now. */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);

/**
 * Whether a query error means the connection is dead and must not go back to the pool. The
 * severity is translated with the server's lc_messages, so the SQLSTATE (and class 08,
 * connection exception) is checked too.
 */
export function isConnectionGone(error: unknown): boolean {
  const { severity, code } = (error ?? {}) as { severity?: unknown; code?: unknown };
  if (typeof severity === 'string' && CONNECTION_GONE.has(severity)) return true;
  return typeof code === 'string' && (SESSION_ENDED.has(code) || code.startsWith('08'));
}
