/** SQLSTATEs of a rejected login: invalid_password and invalid_authorization_specification. */
const LOGIN_REJECTED = new Set(['28P01', '28000']);

/** Severities after which the server has closed the session (57P01 terminate, 57P02, 57P03, failover). */
const CONNECTION_GONE = new Set(['FATAL', 'PANIC']);

/**
 * PgBouncer (1.18, Debian 12's, among others) refuses a login with protocol_violation (08P01) and
 * one of these messages, not with 28P01: "SASL authentication failed", "password authentication
 * failed", and "no such user" when its auth_query finds no password still VALID UNTIL now.
 */
const POOLER_LOGIN_REJECTED = /^(SASL authentication failed|password authentication failed|no such user)/;

export function isLoginRejected(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return false;
  if (LOGIN_REJECTED.has(code)) return true;
  return code === '08P01' && typeof message === 'string' && POOLER_LOGIN_REJECTED.test(message);
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

/** read_only_sql_transaction: a write reached a server that takes none now (pool-query.ts, pool-generations.ts). */
export const READ_ONLY_SQL_TRANSACTION = '25006';
