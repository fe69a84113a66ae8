/** SQLSTATEs of a rejected login: invalid_password and invalid_authorization_specification. */
const LOGIN_REJECTED = new Set(['28P01', '28000']);

export function isLoginRejected(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && LOGIN_REJECTED.has(code);
}
