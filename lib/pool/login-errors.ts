/** SQLSTATEs of a rejected login: invalid_password and invalid_authorization_specification. */
const LOGIN_REJECTED = new Set(['28P01', '28000']);

/** Severities after which the server has closed the session (57P01 terminate, 57P02, 57P03, failover). */
const CONNECTION_GONE = new Set(['FATAL', 'PANIC']);

export function isLoginRejected(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && LOGIN_REJECTED.has(code);
}

/** Whether a query error means the connection is dead and must not go back to the pool. */
export function isConnectionGone(error: unknown): boolean {
  const severity = (error as { severity?: unknown } | null)?.severity;
  return typeof severity === 'string' && CONNECTION_GONE.has(severity);
}
