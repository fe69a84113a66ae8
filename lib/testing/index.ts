export { LocalTokenAuthority, LocalCredentialUnavailableError, type LocalTokenAuthorityOptions } from './local-token-authority.js';
export { ManagedIdentityEmulator, type ManagedIdentityEmulatorOptions } from './managed-identity-emulator.js';
export { createTestToken } from './jwt.js';
export { LocalEntraLogin, type LocalEntraLoginOptions } from './local-entra-login.js';
export type { LocalLoginRegistry, TokenGrant } from './login-registry.js';
export { type EntraRoleMapping } from './local-entra-login.js';
export { entraIdentityClaims, LOCAL_TENANT_ID, type EntraIdentityClaimsOptions, type EntraIdentityKind } from './identity-claims.js';
export { AZURE_LOGIN_ERRORS } from './azure-login-errors.js';
