export { LocalTokenAuthority, LocalCredentialUnavailableError, type LocalTokenAuthorityOptions } from './local-token-authority.js';
export { ManagedIdentityEmulator, type ManagedIdentityEmulatorOptions } from './managed-identity-emulator.js';
export { createTestToken } from './jwt.js';
export { LocalEntraLogin, type LocalEntraLoginOptions, type LocalLoginRegistry, type TokenGrant } from './local-entra-login.js';
