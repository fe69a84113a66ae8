import { nodeEnvKind } from '../common/node-env.js';
import { redact } from '../common/redact.js';
import type { ResolvedEntraPgOptions } from '../options/resolved-options.interface.js';
import { createDefaultCredential } from '../sources/entra-default-credential.js';
import type { DiagnosisCheck } from './check.js';
import { type TokenFacts, isPostgresAudience, tokenFacts } from './token-facts.js';

/** The secret the login will use, kept in memory only; `found` never holds it. */
export interface ObtainedSecret {
  password: string;
  user: string | undefined;
  expiresAt: number | undefined;
  /** The credential's token type ("Bearer", "pop"), when it says. */
  tokenType?: string;
}

/** Which environment variables decided the default credential (the same rules as createDefaultCredential). */
export function defaultCredentialReason(env: NodeJS.ProcessEnv): string {
  const kind = nodeEnvKind(env.NODE_ENV);
  if (kind === 'development') return `NODE_ENV=${env.NODE_ENV ?? '(unset)'}: developer chain (Azure CLI, Azure Developer CLI, environment)`;
  if (kind === 'unknown') return `NODE_ENV=${JSON.stringify(env.NODE_ENV)} is neither production nor development: no default credential`;
  if (env.AZURE_FEDERATED_TOKEN_FILE?.trim()) return `NODE_ENV=production and AZURE_FEDERATED_TOKEN_FILE set: WorkloadIdentityCredential (client id ${env.AZURE_CLIENT_ID ?? 'missing'})`;
  return env.AZURE_CLIENT_ID?.trim()
    ? `NODE_ENV=production, AZURE_CLIENT_ID=${env.AZURE_CLIENT_ID}: ManagedIdentityCredential, user-assigned`
    : 'NODE_ENV=production, AZURE_CLIENT_ID unset: ManagedIdentityCredential, system-assigned';
}

/** Gets one secret the way the module would, timing it. */
export async function checkCredential(
  options: ResolvedEntraPgOptions,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ check: DiagnosisCheck; secret?: ObtainedSecret }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  let what: string;
  try {
    let secret: ObtainedSecret;
    if (options.source) {
      what = `${options.source.label} from ${options.source.description ?? options.source.label}`;
      const got = await options.source.fetch(signal);
      secret = { password: got.password, user: got.user, expiresAt: got.expiresAt?.getTime() };
    } else {
      const given = options.credential;
      what = given ? `${given.constructor.name} (given)` : defaultCredentialReason(env);
      const used = given ?? (await createDefaultCredential(options.connectionName, env));
      const token = await withinTimeout(used.getToken(options.scope, { abortSignal: signal }), timeoutMs);
      if (!token?.token) throw new Error('the credential returned no token');
      secret = { password: token.token, user: undefined, expiresAt: token.expiresOnTimestamp, tokenType: token.tokenType };
    }
    const ms = Math.round(performance.now() - started);
    return { check: { id: 'credential', status: 'ok', found: `${what}; answered in ${ms} ms`, fix: '' }, secret };
  } catch (error) {
    return {
      check: {
        id: 'credential',
        status: 'fail',
        found: `no secret: ${redact(`${(error as Error).name}: ${(error as Error).message}`, 400)}`,
        fix: options.source
          ? 'check the secret source (vault address, its credentials, the secret name)'
          : 'on Azure: enable the managed identity (set AZURE_CLIENT_ID for a user-assigned one); locally: `az login`; or pass `credential`',
      },
    };
  }
}

/** `work`, or a rejection after `timeoutMs` for a credential that ignores its abort signal; the timer never outlives it. */
async function withinTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no token within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const SKEW_MS = 5 * 60_000;

/** The token's claims (never the token), and the warnings they call for. */
export function checkToken(
  password: string,
  loginUser: string | undefined,
  env: NodeJS.ProcessEnv,
  now: number,
  tokenType?: string,
): { check: DiagnosisCheck; facts?: TokenFacts } {
  const facts = tokenFacts(password);
  if (!facts) return { check: { id: 'token', status: 'skipped', found: 'the secret is not a JWT (a vault password or an RDS IAM token): nothing to decode', fix: '' } };
  const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;
  const found = [
    `audience ${facts.audience ?? '(none)'}`,
    `tenant ${facts.tenantId ?? '(none)'}`,
    `object id ${facts.objectId ?? '(none)'}`,
    `app id ${facts.appId ?? '(none)'}`,
    `identity ${facts.identityName ?? '(no name in the token)'} (${facts.kind})`,
    ...(tokenType ? [`token type ${tokenType}`] : []),
    ...(facts.managedIdentityResource ? [`xms_mirid ${facts.managedIdentityResource}`] : []),
    ...(facts.issuedAt !== undefined ? [`issued ${minutes(now - facts.issuedAt)} ago by the local clock`] : []),
    ...(facts.expiresAt !== undefined ? [`expires in ${minutes(facts.expiresAt - now)}`] : []),
  ];
  const problems: { fail: boolean; fix: string }[] = [];
  if (facts.expiresAt !== undefined && facts.expiresAt <= now) problems.push({ fail: true, fix: 'the token has expired: check the clock and the credential' });
  if (!isPostgresAudience(facts.audience)) problems.push({ fail: false, fix: 'the audience is not https://ossrdbms-aad.database.windows.net: request the scope https://ossrdbms-aad.database.windows.net/.default' });
  if (loginUser !== undefined && facts.identityName !== undefined && loginUser !== facts.identityName) {
    problems.push({ fail: false, fix: `the login role "${loginUser}" is not the token's identity "${facts.identityName}": set PGUSER to the identity's name, or check AZURE_CLIENT_ID` });
  }
  if (facts.kind === 'system-assigned identity' && loginUser !== undefined && env.AZURE_CLIENT_ID === undefined) {
    problems.push({ fail: false, fix: `the token is the system-assigned identity's; if "${loginUser}" is a user-assigned identity, set AZURE_CLIENT_ID to its client id` });
  }
  if (facts.kind === 'user' && nodeEnvKind(env.NODE_ENV) === 'production') {
    problems.push({ fail: false, fix: 'a user\'s token in production: use a managed identity (someone\'s `az login` is not an app identity)' });
  }
  if (facts.issuedAt !== undefined && Math.abs(facts.issuedAt - now) > SKEW_MS) {
    problems.push({ fail: false, fix: `the local clock is ${minutes(Math.abs(facts.issuedAt - now))} off the issuer's: synchronise it (NTP)` });
  }
  const tenant = env.AZURE_TENANT_ID?.trim();
  if (tenant && facts.tenantId && tenant !== facts.tenantId) {
    problems.push({ fail: false, fix: `the token's tenant ${facts.tenantId} is not AZURE_TENANT_ID (${tenant}): get the token from the server's tenant` });
  }
  return {
    facts,
    check: {
      id: 'token',
      status: problems.some((p) => p.fail) ? 'fail' : problems.length ? 'warn' : 'ok',
      found: found.join('; '),
      fix: problems.map((p) => p.fix).join('; '),
    },
  };
}
