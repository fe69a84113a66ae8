import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { redact } from '../common/redact.js';
import type { Diagnosis } from '../diagnostics/check.js';
import { type DiagnoseDependencies, diagnoseEntraPg } from '../diagnostics/diagnose.js';
import { formatDiagnosis } from '../diagnostics/format.js';
import type { EntraPgModuleOptions } from '../interfaces/entra-pg-options.interface.js';

/** Exit codes (docs/doctor.md): a login worked; a check failed; the command line was wrong. */
export const DOCTOR_EXIT = { loginWorks: 0, checkFailed: 1, usage: 2 } as const;

/** `--json` output; `schemaVersion` changes only when a field changes meaning or goes away. */
export interface DoctorJson extends Diagnosis {
  schemaVersion: 1;
}

export const DOCTOR_USAGE = `Usage: nestjs-entra-pg doctor [options]

Says why a login to PostgreSQL fails and what to change. Reads what the module reads:
PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE, PGAPPNAME, NODE_ENV and AZURE_* (the credential);
flags override them.

  --host <name>       server host (PGHOST)
  --port <number>     server port (PGPORT)
  --database <name>   database (PGDATABASE)
  --user <role>       role to log in as (PGUSER; default: the name in the token)
  --ssl-ca <file>     PEM file of the CA that signed the server's certificate
  --scope <scope>     token scope (default https://ossrdbms-aad.database.windows.net/.default)
  --timeout <ms>      bound of each network step and of the token request (default 10000)
  --json              print the result as JSON (schemaVersion 1)
  -h, --help          print this text

Exit codes: 0 a login works, 1 a check failed, 2 wrong usage.`;

export interface DoctorIo {
  env: NodeJS.ProcessEnv;
  /** Where output goes (stdout in the bin). */
  print(text: string): void;
  /** Overrides the credential the options would pick (tests). */
  deps?: Omit<DiagnoseDependencies, 'env'>;
}

/** Runs `nestjs-entra-pg doctor` with `args` (after the word `doctor`); resolves to the exit code. */
export async function runDoctor(args: string[], io: DoctorIo): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(args).values;
  } catch (error) {
    io.print(`${redact((error as Error).message, 300)}\n\n${DOCTOR_USAGE}`);
    return DOCTOR_EXIT.usage;
  }
  if (values.help) {
    io.print(DOCTOR_USAGE);
    return DOCTOR_EXIT.loginWorks;
  }
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  const port = values.port === undefined ? undefined : Number(values.port);
  if ((timeoutMs !== undefined && !(timeoutMs > 0)) || (port !== undefined && !Number.isInteger(port))) {
    io.print(`--timeout and --port take numbers.\n\n${DOCTOR_USAGE}`);
    return DOCTOR_EXIT.usage;
  }
  let ca: string | undefined;
  if (values['ssl-ca'] !== undefined) {
    try {
      ca = readFileSync(values['ssl-ca'], 'utf8');
    } catch (error) {
      io.print(`--ssl-ca: cannot read ${values['ssl-ca']}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      return DOCTOR_EXIT.usage;
    }
  }
  const options: EntraPgModuleOptions = {
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(values.database !== undefined ? { database: values.database } : {}),
    ...(values.user !== undefined ? { user: values.user } : {}),
    ...(values.scope !== undefined ? { scope: values.scope } : {}),
    ...(ca !== undefined ? { ssl: { ca } } : {}),
  };
  const diagnosis = await diagnoseEntraPg(options, { ...io.deps, env: io.env, timeoutMs });
  if (values.json) {
    const json: DoctorJson = { schemaVersion: 1, ...diagnosis };
    io.print(redact(JSON.stringify(json, null, 2), 256 * 1024));
  } else {
    io.print(formatDiagnosis(diagnosis));
  }
  return diagnosis.ok ? DOCTOR_EXIT.loginWorks : DOCTOR_EXIT.checkFailed;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      database: { type: 'string' },
      user: { type: 'string' },
      'ssl-ca': { type: 'string' },
      scope: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
