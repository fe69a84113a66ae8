import type { ResolvedPoolConfig } from '../pool/pool-types.js';
import { type LoginFailure, explainLoginFailure } from './login-causes.js';
import { tokenFacts } from './token-facts.js';

/**
 * One line of cause and fix for a login the server refused at boot, from what the failed login
 * already told us (the server's error) and the token's claims: no extra round trip.
 */
export function loginRefusedHint(
  error: unknown,
  config: Pick<ResolvedPoolConfig, 'database' | 'port'>,
  user: string | undefined,
  password: string | undefined,
  { scope, env = process.env }: { scope?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const failure: LoginFailure = {
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message : '',
    user,
    database: config.database,
    port: config.port,
    facts: password === undefined ? undefined : tokenFacts(password),
    scope,
    expectedTenantId: env.AZURE_TENANT_ID?.trim() || undefined,
    clientId: env.AZURE_CLIENT_ID?.trim() || undefined,
    now: Date.now(),
  };
  const { id, cause, fix } = explainLoginFailure(failure);
  return `Likely cause (${id}): ${cause}. Fix: ${fix}.`;
}
