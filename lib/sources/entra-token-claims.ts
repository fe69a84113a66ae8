import { roleNameProblem } from './role-name.js';

/** Claims a PostgreSQL role name can come from, in the order Microsoft's own helpers use. */
export const USER_CLAIMS = ['xms_mirid', 'upn', 'preferred_username', 'unique_name'] as const;
export type UserClaim = (typeof USER_CLAIMS)[number];

const MANAGED_IDENTITY_PATH = /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)$/i;

/** Reads a JWT's payload without verifying it (the server verifies; we only need names and times). */
export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  if (token.length > 64 * 1024) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const json = Buffer.from(parts[1], 'base64url').toString('utf8');
    const payload: unknown = JSON.parse(json);
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export type UserFromClaims =
  | { ok: true; user: string; claim: UserClaim }
  | { ok: false; reason: 'not-a-jwt' | 'no-user-claim' }
  | { ok: false; reason: 'invalid-user'; claim: UserClaim; problem: string };

/** Picks the role name from a token's claims; a managed identity logs in under its resource name. */
export function userFromToken(token: string): UserFromClaims {
  const payload = decodeJwtPayload(token);
  if (!payload) return { ok: false, reason: 'not-a-jwt' };
  for (const claim of USER_CLAIMS) {
    const value = payload[claim];
    if (typeof value !== 'string' || value.trim() === '') continue;
    if (claim === 'xms_mirid') {
      // System-assigned identities carry the resource's own path here; they log in under a name
      // the token does not hold, so only a user-assigned identity's path names the role.
      const match = MANAGED_IDENTITY_PATH.exec(value);
      if (match?.[1]) return checked(match[1], claim);
      continue;
    }
    return checked(value, claim);
  }
  return { ok: false, reason: 'no-user-claim' };
}

/** A claim is data from outside: it becomes the user of pg's startup packet only if it is a sane role name. */
function checked(user: string, claim: UserClaim): UserFromClaims {
  const problem = roleNameProblem(user);
  return problem === undefined ? { ok: true, user, claim } : { ok: false, reason: 'invalid-user', claim, problem };
}
