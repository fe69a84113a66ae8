/**
 * Azure Database for PostgreSQL's own words for refused Entra logins, as public threads quote them,
 * for the local login front to answer with. The threads quote the text only; the SQLSTATE is the
 * one PostgreSQL's auth_failed() gives a failed password-type login (28P01, invalid_password),
 * which is what Azure's clients report next to these texts.
 */
export const AZURE_LOGIN_ERRORS = {
  /** A token for another resource, or an old cached one (microsoft/azuredatastudio-postgresql#505). */
  wrongAudience: () =>
    'The access token does not have a valid audience claim. Please acquire a new token for the resource "https://ossrdbms-aad.database.windows.net".',
  /** A managed identity or service principal logging in under a role mapped as a user (MicrosoftDocs/azure-docs#120133). */
  servicePrincipalAsUser: (role: string) => `Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[${role}]`,
  /** Unknown role, role without an Entra mapping, revoked token, Entra authentication off: PostgreSQL's generic text. */
  passwordFailed: (role: string) => `password authentication failed for user "${role}"`,
  /** PostgreSQL's pg_hba text, which Azure (require_secure_transport) gives a plaintext login. */
  noEncryption: (host: string, role: string, database: string) =>
    `no pg_hba.conf entry for host "${host}", user "${role}", database "${database}", no encryption`,
} as const;

export const AZURE_POSTGRES_AUDIENCE = 'https://ossrdbms-aad.database.windows.net';
