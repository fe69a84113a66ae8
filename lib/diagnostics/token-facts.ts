import { decodeJwtPayload, userFromToken } from '../sources/entra-token-claims.js';
import { AZURE_POSTGRES_RESOURCE } from './check.js';

/** What a token's claims say, read without verifying it; no claim here is a secret. */
export interface TokenFacts {
  audience: string | undefined;
  tenantId: string | undefined;
  objectId: string | undefined;
  appId: string | undefined;
  /** The name the module would log in under (user-assigned identity's resource name, upn, …). */
  identityName: string | undefined;
  /** The xms_mirid claim: a managed identity's resource id. */
  managedIdentityResource: string | undefined;
  kind: 'user' | 'user-assigned identity' | 'system-assigned identity' | 'application' | 'unknown';
  issuedAt: number | undefined;
  expiresAt: number | undefined;
}

const USER_ASSIGNED = /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i;

/** Undefined when `token` is not a JWT (a vault password, an RDS IAM token). */
export function tokenFacts(token: string): TokenFacts | undefined {
  const claims = decodeJwtPayload(token);
  if (!claims) return undefined;
  const text = (key: string) => (typeof claims[key] === 'string' && claims[key] !== '' ? (claims[key] as string) : undefined);
  const seconds = (key: string) => (typeof claims[key] === 'number' ? (claims[key] as number) * 1000 : undefined);
  const mirid = text('xms_mirid');
  const named = userFromToken(token);
  const kind: TokenFacts['kind'] = mirid
    ? USER_ASSIGNED.test(mirid) ? 'user-assigned identity' : 'system-assigned identity'
    : text('idtyp') === 'app' || (!text('upn') && !text('preferred_username') && !text('unique_name') && text('appid') !== undefined)
      ? 'application'
      : text('upn') || text('preferred_username') || text('unique_name') || text('idtyp') === 'user'
        ? 'user'
        : 'unknown';
  return {
    audience: text('aud'),
    tenantId: text('tid'),
    objectId: text('oid'),
    appId: text('appid') ?? text('azp'),
    identityName: named.ok ? named.user : undefined,
    managedIdentityResource: mirid,
    kind,
    issuedAt: seconds('iat'),
    expiresAt: seconds('exp'),
  };
}

/** Azure accepts the resource with or without a trailing slash. */
export function isPostgresAudience(audience: string | undefined): boolean {
  return audience !== undefined && audience.replace(/\/+$/, '') === AZURE_POSTGRES_RESOURCE;
}
