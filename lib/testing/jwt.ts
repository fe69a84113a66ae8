import { randomUUID } from 'node:crypto';

/**
 * Builds an unsigned JWT-shaped token (alg "none") with the given claims. PostgreSQL never parses
 * the password, and the pool reads only `exp` and user claims, so a signature would prove nothing here.
 */
export function createTestToken(claims: Record<string, unknown>, expiresAt: Date): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'none', typ: 'JWT' };
  const payload = {
    aud: 'https://ossrdbms-aad.database.windows.net',
    iss: 'https://login.local.test/nestjs-entra-pg/',
    iat: now,
    nbf: now,
    exp: Math.floor(expiresAt.getTime() / 1000),
    jti: randomUUID(),
    ...claims,
  };
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode(header)}.${encode(payload)}.${randomUUID().replaceAll('-', '')}`;
}
