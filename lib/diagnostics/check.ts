/** One line of the diagnosis. Stable: `--json` prints these as they are (docs/doctor.md). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export type CheckId = 'configuration' | 'dns' | 'tcp' | 'tls' | 'credential' | 'token' | 'login' | 'after-login';

export interface DiagnosisCheck {
  id: CheckId;
  status: CheckStatus;
  /** What was found, in one or a few lines; never a secret. */
  found: string;
  /** What to change; empty when there is nothing to do. */
  fix: string;
  /** Where to read more. */
  docs?: string;
  /** For `login` failures: the cause's stable id (docs/doctor.md's table) and the server's own text. */
  cause?: string;
  serverMessage?: string;
  sqlState?: string;
}

export interface Diagnosis {
  /** True only when a login worked. */
  ok: boolean;
  checks: DiagnosisCheck[];
}

export const AZURE_POSTGRES_RESOURCE = 'https://ossrdbms-aad.database.windows.net';
