import { AZURE_POSTGRES_RESOURCE } from './check.js';
import { type TokenFacts, isPostgresAudience } from './token-facts.js';

/** What the diagnosis knows when a login was refused: the server's answer and what we sent. */
export interface LoginFailure {
  /** The server's SQLSTATE (pg's `error.code`), or a system error code such as ECONNREFUSED. */
  code: string | undefined;
  /** The server's own text, already redacted. */
  message: string;
  user: string | undefined;
  database: string;
  port: number;
  /** The token's claims; undefined for a password that is not a JWT. */
  facts: TokenFacts | undefined;
  /** The scope the token was requested for (Entra only). */
  scope: string | undefined;
  /** AZURE_TENANT_ID, AZURE_CLIENT_ID as the app sees them. */
  expectedTenantId: string | undefined;
  clientId: string | undefined;
  now: number;
}

export interface LoginCause {
  /** Stable id, listed in docs/doctor.md. */
  id: string;
  cause: string;
  fix: string;
  docs?: string;
}

interface Row {
  id: string;
  applies(failure: LoginFailure): boolean;
  explain(failure: LoginFailure): Omit<LoginCause, 'id'>;
}

const PASSWORD_FAILED = /^password authentication failed for user/;
const SKEW_MS = 5 * 60_000;
const AZURE_AUTH_DOCS = 'https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-configure-sign-in-azure-ad-authentication';
const passwordFailed = (f: LoginFailure) => f.code === '28P01' && PASSWORD_FAILED.test(f.message);
const scopeProblem = (scope: string | undefined) => scope !== undefined && !scope.endsWith('/.default');
const name = (value: string | undefined) => JSON.stringify(value ?? '(none)');

/**
 * Server answers → cause and fix, first match wins. Azure's texts are matched as public threads
 * quote them (cited per row); PostgreSQL's own texts as the server words them. Azure answers most
 * Entra refusals with PostgreSQL's generic "password authentication failed", so those rows tell
 * the causes apart by the token's claims.
 */
export const LOGIN_CAUSES: readonly Row[] = [
  {
    // Azure: 'The access token does not have a valid audience claim. Please acquire a new token for
    // the resource "https://ossrdbms-aad.database.windows.net".' (microsoft/azuredatastudio-postgresql#505)
    id: 'scope-without-default',
    applies: (f) => /valid audience claim/.test(f.message) && scopeProblem(f.scope),
    explain: (f) => ({
      cause: `the token was requested for the scope ${name(f.scope)}, which lacks "/.default", so it is not for Azure Database for PostgreSQL`,
      fix: `request the scope "${AZURE_POSTGRES_RESOURCE}/.default" (the module's default: remove the \`scope\` option)`,
      // A service principal's scope must end in /.default; AzureCliCredential accepts it without (MicrosoftDocs/azure-docs#113101).
      docs: 'https://github.com/MicrosoftDocs/azure-docs/issues/113101',
    }),
  },
  {
    id: 'wrong-audience',
    applies: (f) => /valid audience claim/.test(f.message) || (passwordFailed(f) && f.facts !== undefined && !isPostgresAudience(f.facts.audience)),
    explain: (f) => ({
      cause: `the token is for ${name(f.facts?.audience)}, not for Azure Database for PostgreSQL (${AZURE_POSTGRES_RESOURCE})`,
      fix: `request the token for the scope "${AZURE_POSTGRES_RESOURCE}/.default" (remove a custom \`scope\` or credential wrapper that asks for another resource)`,
      docs: 'https://github.com/microsoft/azuredatastudio-postgresql/issues/505',
    }),
  },
  {
    // Azure: 'Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[<name>]' (MicrosoftDocs/azure-docs#120133).
    id: 'service-principal-as-user-role',
    applies: (f) => /Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens/.test(f.message),
    explain: (f) => ({
      cause: `role ${name(f.user)} is mapped to an Entra user, but the token is for a ${f.facts?.kind ?? 'service principal or managed identity'}` +
        (f.facts?.identityName ? ` named ${name(f.facts.identityName)}` : ''),
      fix: f.facts?.identityName && f.facts.identityName !== f.user
        ? `log in as ${name(f.facts.identityName)} (set PGUSER or \`user\`), the role made for this identity`
        : "map the role to the identity as a service: SELECT pgaadauth_create_principal('<identity name>', false, false); as an Entra admin, and log in under that name",
      docs: 'https://github.com/MicrosoftDocs/azure-docs/issues/120133',
    }),
  },
  {
    // Azure: 'Could not validate AAD user <ObjectId> because its name is not found in the tenant.'
    // from pgaadauth_create_principal (MicrosoftDocs/azure-docs pull request #117206).
    id: 'aad-name-not-in-tenant',
    applies: (f) => /Could not validate AAD user .* not found in the tenant/.test(f.message),
    explain: () => ({
      cause: 'the name given to pgaadauth_create_principal is not an identity of the server\'s tenant',
      fix: "use the identity's exact display name (a managed identity's resource name, a user's UPN; names are case-sensitive), or pgaadauth_create_principal_with_oid with its object id",
      docs: 'https://github.com/MicrosoftDocs/azure-docs/pull/117206',
    }),
  },
  {
    // PostgreSQL: 'no pg_hba.conf entry for host "…", user "…", database "…", no encryption'; Azure
    // requires TLS (require_secure_transport) and answers a plaintext login with it.
    id: 'tls-off',
    applies: (f) => f.code === '28000' && /no pg_hba\.conf entry.*no encryption/.test(f.message),
    explain: () => ({
      cause: 'the server accepts only encrypted connections and this one was plaintext',
      fix: 'turn TLS on: remove `ssl: false` and PGSSLMODE=disable (pass `ssl: { ca }` for a private CA)',
      docs: 'https://www.postgresql.org/docs/current/auth-pg-hba-conf.html',
    }),
  },
  {
    id: 'no-pg-hba-entry',
    applies: (f) => f.code === '28000' && /no pg_hba\.conf entry/.test(f.message),
    explain: () => ({
      cause: 'no pg_hba.conf rule (on Azure: no firewall rule or private endpoint) lets this host, user and database in',
      fix: "allow the app's address (Azure: Networking → firewall rules or private access; self-hosted: a pg_hba.conf line), or connect as a user/database that a rule covers",
      docs: 'https://www.postgresql.org/docs/current/auth-pg-hba-conf.html',
    }),
  },
  {
    // PgBouncer refuses with protocol_violation (08P01) and these texts (lib/pool/login-errors.ts).
    id: 'pgbouncer-refused',
    applies: (f) => f.code === '08P01' && /^(SASL authentication failed|password authentication failed|no such user)/.test(f.message),
    explain: (f) => ({
      cause: `PgBouncer${f.port === 6432 ? ' (port 6432)' : ''} refused the login: it checks the password itself and does not know this token`,
      fix: "connect to PostgreSQL's port 5432 directly, or give PgBouncer an auth_query/auth_user that reads the role's current token (Azure's built-in PgBouncer passes Entra tokens through on 6432 only with Entra authentication enabled on the server)",
      docs: 'https://www.pgbouncer.org/config.html#auth_query',
    }),
  },
  {
    id: 'token-expired',
    applies: (f) =>
      /access token has expired/i.test(f.message) || (passwordFailed(f) && f.facts?.expiresAt !== undefined && f.facts.expiresAt <= f.now),
    explain: () => ({
      cause: 'the token had expired when it was sent',
      fix: "let the module fetch tokens (don't pass a fixed `password`), and check the machine's clock; a refresh that keeps failing is reported by the health check",
    }),
  },
  {
    id: 'clock-skew',
    applies: (f) => passwordFailed(f) && f.facts?.issuedAt !== undefined && Math.abs(f.facts.issuedAt - f.now) > SKEW_MS,
    explain: (f) => ({
      cause: `the local clock is ${Math.round(Math.abs((f.facts?.issuedAt ?? f.now) - f.now) / 60_000)} min off the token issuer's`,
      fix: 'synchronise the clock (NTP / chrony); tokens are checked against the server\'s time',
    }),
  },
  {
    id: 'wrong-tenant',
    applies: (f) => passwordFailed(f) && f.expectedTenantId !== undefined && f.facts?.tenantId !== undefined && f.facts.tenantId !== f.expectedTenantId,
    explain: (f) => ({
      cause: `the token is from tenant ${f.facts?.tenantId}, but AZURE_TENANT_ID says ${f.expectedTenantId}; the server trusts its own tenant only`,
      fix: "get the token from the server's tenant: set AZURE_TENANT_ID (or `az login --tenant`) to the tenant of the PostgreSQL server",
      docs: AZURE_AUTH_DOCS,
    }),
  },
  {
    id: 'system-assigned-instead-of-user-assigned',
    applies: (f) => passwordFailed(f) && f.facts?.kind === 'system-assigned identity' && f.clientId === undefined,
    explain: (f) => ({
      cause: `the token is for the system-assigned identity, but the login is as ${name(f.user)}: AZURE_CLIENT_ID is not set, so the user-assigned identity was not used`,
      fix: "set AZURE_CLIENT_ID to the user-assigned identity's client id (or pass `new ManagedIdentityCredential({ clientId })`)",
      docs: AZURE_AUTH_DOCS,
    }),
  },
  {
    id: 'role-name-mismatch',
    applies: (f) => passwordFailed(f) && f.facts?.identityName !== undefined && f.facts.identityName !== f.user,
    explain: (f) => ({
      cause: `the login is as ${name(f.user)} but the token is for ${name(f.facts?.identityName)} (${f.facts?.kind}); Entra roles are named after the identity, case-sensitively`,
      fix: f.clientId !== undefined && f.facts?.kind === 'user-assigned identity'
        ? `set PGUSER (or \`user\`) to ${name(f.facts.identityName)}, or unset AZURE_CLIENT_ID if the role is the system-assigned identity's`
        : `set PGUSER (or \`user\`) to ${name(f.facts?.identityName)}, or remove it so the module takes the name from the token`,
      docs: AZURE_AUTH_DOCS,
    }),
  },
  {
    id: 'role-not-entra',
    applies: (f) => passwordFailed(f) && f.facts !== undefined,
    explain: (f) => ({
      cause: `the server refused the token for ${name(f.user)}: the role does not exist, is not mapped to this Entra identity, the token was revoked, or Entra authentication is off on the server`,
      fix: `as an Entra admin: SELECT * FROM pgaadauth_list_principals(false); — create the role with pgaadauth_create_principal('${f.user ?? '<name>'}', false, false) if missing, and check that the server's authentication setting includes Microsoft Entra`,
      docs: AZURE_AUTH_DOCS,
    }),
  },
  {
    // A vault secret, a static password or an RDS IAM token: nothing to decode.
    id: 'password-refused',
    applies: passwordFailed,
    explain: (f) => ({
      cause: `the server refused the password for ${name(f.user)}: the role does not exist, the secret is not (or no longer) its password, or the server wants another method for it`,
      fix: "check that the secret source holds the role's current password and the right user name, and that the role exists (\\du in psql)",
    }),
  },
  {
    id: 'database-missing',
    applies: (f) => f.code === '3D000',
    explain: (f) => ({
      cause: `database ${name(f.database)} does not exist`,
      fix: 'set PGDATABASE (or `database`) to an existing database, or create it',
    }),
  },
  {
    id: 'no-connect-privilege',
    // PostgreSQL: 'permission denied for database "…"' with the detail "User does not have CONNECT privilege."
    applies: (f) => f.code === '42501' && /^permission denied for database/.test(f.message),
    explain: (f) => ({
      cause: `role ${name(f.user)} may not connect to database ${name(f.database)}`,
      fix: `GRANT CONNECT ON DATABASE ${f.database} TO "${f.user ?? '<role>'}";`,
    }),
  },
  {
    id: 'too-many-connections',
    applies: (f) => f.code === '53300',
    explain: () => ({
      cause: 'the server (or the role\'s CONNECTION LIMIT) has no connection slot left',
      fix: 'lower pool.max across the app\'s replicas, raise max_connections or the role\'s connection limit, or put a pooler in front',
    }),
  },
  {
    id: 'role-no-login',
    applies: (f) => f.code === '28000' && /is not permitted to log in/.test(f.message),
    explain: (f) => ({ cause: `role ${name(f.user)} has NOLOGIN`, fix: `ALTER ROLE "${f.user ?? '<role>'}" LOGIN;` }),
  },
];

/** The first row that explains `failure`, or a generic answer that still keeps the server's text. */
export function explainLoginFailure(failure: LoginFailure): LoginCause {
  for (const row of LOGIN_CAUSES) if (row.applies(failure)) return { id: row.id, ...row.explain(failure) };
  return {
    id: 'unrecognised',
    cause: `the server refused the login${failure.code ? ` (${failure.code})` : ''}`,
    fix: 'read the server\'s text below; docs/doctor.md lists the causes this tool recognises',
  };
}
