import { ENTRA_PG_DEFAULTS } from '../options/entra-pg.defaults.js';
import type { ResolvedEntraPgOptions } from '../options/resolved-options.interface.js';
import type { DiagnosisCheck } from './check.js';

/** Where a value came from: a PG* variable holding that same value, the default, or the options. */
function origin(value: string | number | undefined, envName: string, fallback: string | number | undefined, env: NodeJS.ProcessEnv): string {
  if (value === undefined) return 'not set';
  if (env[envName]?.trim() && env[envName] === String(value)) return envName;
  return value === fallback ? 'default' : 'option';
}

/** Each connection setting and where it came from. Secrets are named, never shown. */
export function checkConfiguration(options: ResolvedEntraPgOptions, env: NodeJS.ProcessEnv): DiagnosisCheck {
  const { host, port, database, user, ssl } = options.pool;
  const secret = options.source
    ? `${options.source.label} from the secret source (${options.source.description ?? options.source.label})`
    : `Entra token (scope ${options.scope}) from ${options.credential ? 'the `credential` option' : 'the default credential'}`;
  const lines = [
    `host ${host} (${origin(host, 'PGHOST', undefined, env)})`,
    `port ${port} (${origin(port, 'PGPORT', ENTRA_PG_DEFAULTS.port, env)})`,
    `database ${database} (${origin(database, 'PGDATABASE', ENTRA_PG_DEFAULTS.database, env)})`,
    `user ${user ?? "(from the token's claims)"} (${user === undefined ? 'not set' : origin(user, 'PGUSER', undefined, env)})`,
    `ssl ${ssl === false ? `off${options.sslOffBecause ? ` (${options.sslOffBecause})` : ' (loopback)'}` : typeof ssl === 'object' && ssl.rejectUnauthorized === false ? 'on, unverified' : 'on, verified'}`,
    `secret: ${secret} [value never shown]`,
  ];
  const scopeWrong = !options.source && !options.scope.endsWith('/.default');
  return {
    id: 'configuration',
    status: scopeWrong ? 'warn' : 'ok',
    found: lines.join('; '),
    fix: scopeWrong ? `the scope should end in "/.default": remove the \`scope\` option to use ${ENTRA_PG_DEFAULTS.scope}` : '',
    docs: scopeWrong ? 'https://github.com/MicrosoftDocs/azure-docs/issues/113101' : undefined,
  };
}
