import pg from 'pg';
import { redact } from '../common/redact.js';
import type { ResolvedEntraPgOptions } from '../options/resolved-options.interface.js';
import type { DiagnosisCheck } from './check.js';
import { type LoginFailure, explainLoginFailure } from './login-causes.js';
import type { TokenFacts } from './token-facts.js';

export interface LoginContext {
  user: string | undefined;
  password: string;
  facts: TokenFacts | undefined;
  env: NodeJS.ProcessEnv;
  now: number;
  timeoutMs: number;
}

/** The failure as the cause table reads it, from a refused login's error. */
export function loginFailure(error: unknown, options: ResolvedEntraPgOptions, context: Omit<LoginContext, 'password' | 'timeoutMs'>): LoginFailure {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return {
    code: typeof code === 'string' ? code : undefined,
    message: redact(typeof message === 'string' ? message : String(error), 500),
    user: context.user,
    database: options.pool.database,
    port: options.pool.port,
    facts: context.facts,
    scope: options.source ? undefined : options.scope,
    expectedTenantId: context.env.AZURE_TENANT_ID?.trim() || undefined,
    clientId: context.env.AZURE_CLIENT_ID?.trim() || undefined,
    now: context.now,
  };
}

/** Logs in once as the pool would and, when that works, reads who and where we are. */
export async function checkLogin(options: ResolvedEntraPgOptions, context: LoginContext): Promise<DiagnosisCheck[]> {
  const { host, port, database, ssl, applicationName } = options.pool;
  const client = new pg.Client({
    host,
    port,
    database,
    user: context.user,
    password: context.password,
    ssl,
    application_name: applicationName ?? 'nestjs-entra-pg doctor',
    connectionTimeoutMillis: context.timeoutMs,
    query_timeout: context.timeoutMs,
  });
  // A failed login also emits 'error' on some paths; the promise below reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    return [refusedLogin(error, options, context)];
  }
  try {
    return [{ id: 'login', status: 'ok', found: `logged in to ${database} as "${context.user}"`, fix: '' }, await afterLogin(client)];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The login check of a refused login: the server's answer mapped to a cause and its fix, its own text beside it. */
function refusedLogin(error: unknown, options: ResolvedEntraPgOptions, context: LoginContext): DiagnosisCheck {
  const failure = loginFailure(error, options, context);
  const cause = explainLoginFailure(failure);
  return {
    id: 'login',
    status: 'fail',
    found: `refused as "${context.user ?? '(none)'}": ${cause.cause}`,
    fix: cause.fix,
    docs: cause.docs,
    cause: cause.id,
    serverMessage: failure.message,
    sqlState: failure.code,
  };
}

/** Who and where the login landed: role, server version, primary or standby, privileges, round trip. */
async function afterLogin(client: pg.Client): Promise<DiagnosisCheck> {
  const started = performance.now();
  await client.query('SELECT 1');
  const rtt = Math.round(performance.now() - started);
  const { rows } = await client.query<{ user: string; version: string; standby: boolean; connect: boolean; usage: boolean; create: boolean }>(
    `SELECT current_user AS user, current_setting('server_version') AS version, pg_is_in_recovery() AS standby,
            has_database_privilege(current_database(), 'CONNECT') AS connect,
            has_schema_privilege('public', 'USAGE') AS usage, has_schema_privilege('public', 'CREATE') AS create`,
  );
  const row = rows[0]!;
  const noSchema = !row.usage;
  return {
    id: 'after-login',
    status: noSchema ? 'warn' : 'ok',
    found:
      `current_user ${row.user}; PostgreSQL ${row.version}; ${row.standby ? 'standby (read-only)' : 'primary'}; ` +
      `CONNECT ${row.connect ? 'yes' : 'no'}; schema public: USAGE ${row.usage ? 'yes' : 'no'}, CREATE ${row.create ? 'yes' : 'no'}; round trip ${rtt} ms`,
    fix: noSchema ? `GRANT USAGE ON SCHEMA public TO "${row.user}"; (and the table privileges the app needs)` : '',
  };
}
