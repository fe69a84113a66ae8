import { redact } from '../common/redact.js';
import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions } from '../interfaces/entra-pg-options.interface.js';
import type { EntraTokenCredential } from '../interfaces/token-credential.interface.js';
import { resolveOptions } from '../options/resolve-options.js';
import type { ResolvedEntraPgOptions } from '../options/resolved-options.interface.js';
import type { PgSecretSource } from '../sources/pg-secret-source.interface.js';
import type { CheckId, Diagnosis, DiagnosisCheck } from './check.js';
import { checkConfiguration } from './configuration.js';
import { checkCredential, checkToken } from './identity.js';
import { checkLogin } from './login.js';
import { checkDns, checkTcp, checkTls } from './network.js';
import { tokenFacts } from './token-facts.js';

export interface DiagnoseDependencies {
  /** The environment the app reads (AZURE_*, NODE_ENV, PG*). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Overrides the options' credential (the app's ENTRA_CREDENTIAL, an emulator in tests). */
  credential?: EntraTokenCredential;
  /** Overrides where the secret comes from: the source the app's connection really reads (EntraPgConnection.diagnose()). */
  source?: PgSecretSource;
  /** Bound of every network step and the token request. Default 10 s. */
  timeoutMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

const ORDER: readonly CheckId[] = ['configuration', 'dns', 'tcp', 'tls', 'credential', 'token', 'login', 'after-login'];

/**
 * Runs the checks in order and stops at the first failure; the checks not run are reported as
 * skipped, so the list always has the same shape. Connects only to the configured host.
 */
export async function diagnose(options: ResolvedEntraPgOptions, deps: DiagnoseDependencies = {}): Promise<Diagnosis> {
  const env = deps.env ?? process.env;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const now = deps.now ?? Date.now;
  const { host, port, ssl } = options.pool;
  const checks: DiagnosisCheck[] = [];
  const failed = () => checks.some((check) => check.status === 'fail');
  const run = async (step: () => Promise<DiagnosisCheck | DiagnosisCheck[]> | DiagnosisCheck) => {
    if (!failed()) checks.push(...[await step()].flat());
  };
  // What the app really reads: an overriding credential or source (ENTRA_CREDENTIAL, PG_SECRET_SOURCE) wins.
  const effective: ResolvedEntraPgOptions = { ...options, credential: deps.credential ?? options.credential, source: deps.source ?? options.source };
  await run(() => checkConfiguration(effective, env));
  await run(() => checkDns(host));
  await run(() => checkTcp(host, port, timeoutMs));
  await run(() => checkTls(host, port, ssl, options.sslOffBecause, timeoutMs));
  let secret: Awaited<ReturnType<typeof checkCredential>>['secret'];
  await run(async () => {
    const result = await checkCredential(effective, env, timeoutMs);
    secret = result.secret;
    return result.check;
  });
  // The role the module would log in as: the option, then the source's, then the token's name.
  const user = options.pool.user ?? secret?.user ?? (secret ? tokenFacts(secret.password)?.identityName : undefined);
  await run(() => checkToken(secret!.password, user, env, now(), secret!.tokenType).check);
  await run(() => checkLogin(options, { user, password: secret!.password, facts: tokenFacts(secret!.password), env, now: now(), timeoutMs }));
  for (const id of ORDER) {
    if (!checks.some((check) => check.id === id)) checks.push({ id, status: 'skipped', found: 'not run: an earlier check failed', fix: '' });
  }
  checks.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
  return { ok: checks.some((check) => check.id === 'login' && check.status === 'ok'), checks };
}

const SKIPPED_AFTER_CONFIGURATION = ORDER.slice(1);

/**
 * The diagnosis from the module's own options (what `EntraPgModule.forRoot()` takes): resolved
 * the way the module resolves them (PG* environment, defaults); options that cannot work are
 * reported as a failed configuration check instead of thrown.
 */
export async function diagnoseEntraPg(options: EntraPgModuleOptions, deps: DiagnoseDependencies = {}): Promise<Diagnosis> {
  let resolved: ResolvedEntraPgOptions;
  try {
    resolved = resolveOptions(options, 'doctor', deps.env ?? process.env);
  } catch (error) {
    if (!(error instanceof EntraPgConfigError)) throw error;
    return {
      ok: false,
      checks: [
        { id: 'configuration', status: 'fail', found: redact(error.message, 1000), fix: 'change the option or environment variable the message names' },
        ...SKIPPED_AFTER_CONFIGURATION.map((id): DiagnosisCheck => ({ id, status: 'skipped', found: 'not run: an earlier check failed', fix: '' })),
      ],
    };
  }
  return diagnose(resolved, deps);
}
