import { randomUUID } from 'node:crypto';

/** The kinds of Entra identity whose tokens the local authority can mint. */
export type EntraIdentityKind = 'system-assigned' | 'user-assigned' | 'service-principal' | 'workload-identity' | 'user';

export interface EntraIdentityClaimsOptions {
  tenantId?: string;
  objectId?: string;
  appId?: string;
  /** Overrides the audience (default the PostgreSQL resource): a token for another resource. */
  audience?: string;
}

const SUBSCRIPTION = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local';
export const LOCAL_TENANT_ID = '72f988bf-0000-4000-8000-000000000001';

/**
 * Claims of an access token for Azure Database for PostgreSQL as Entra issues them for each kind
 * of identity (v1 tokens, which the resource gets): managed identities carry `xms_mirid`, the
 * resource id (a user-assigned identity's ends in its name; a system-assigned one's is the
 * resource it belongs to, here an App Service named `name`); applications (service principals,
 * workload identity's federated app) carry `appid` and `idtyp: app` and no name the role could
 * come from; users carry `upn`. `name` is the identity's display name.
 */
export function entraIdentityClaims(kind: EntraIdentityKind, name: string, options: EntraIdentityClaimsOptions = {}): Record<string, unknown> {
  const common = {
    aud: options.audience ?? 'https://ossrdbms-aad.database.windows.net',
    tid: options.tenantId ?? LOCAL_TENANT_ID,
    oid: options.objectId ?? randomUUID(),
    iss: `https://sts.windows.net/${options.tenantId ?? LOCAL_TENANT_ID}/`,
  };
  const appId = options.appId ?? randomUUID();
  switch (kind) {
    case 'system-assigned':
      return { ...common, appid: appId, idtyp: 'app', xms_mirid: `${SUBSCRIPTION}/providers/Microsoft.Web/sites/${name}` };
    case 'user-assigned':
      return { ...common, appid: appId, idtyp: 'app', xms_mirid: `${SUBSCRIPTION}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}` };
    case 'service-principal':
      return { ...common, appid: appId, appidacr: '1', idtyp: 'app' };
    case 'workload-identity':
      // A federated credential (AKS workload identity) on an app registration: an app token, signed in with a client assertion.
      return { ...common, appid: appId, appidacr: '2', idtyp: 'app' };
    case 'user':
      return { ...common, idtyp: 'user', upn: name, name, scp: 'user_impersonation' };
  }
}
