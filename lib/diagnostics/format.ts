import { redact } from '../common/redact.js';
import type { Diagnosis } from './check.js';

const MARK = { ok: '✓', warn: '⚠', fail: '✗', skipped: '·' } as const;

/** The readable checklist: one line per check, the fix under a warning or failure. */
export function formatDiagnosis(diagnosis: Diagnosis): string {
  const lines: string[] = [];
  for (const check of diagnosis.checks) {
    lines.push(`${MARK[check.status]} ${check.id.padEnd(12)} ${check.found}`);
    if (check.serverMessage) lines.push(`    server said: ${check.sqlState ? `${check.sqlState} ` : ''}${check.serverMessage}`);
    if (check.fix && (check.status === 'fail' || check.status === 'warn')) lines.push(`    fix: ${check.fix}`);
    if (check.docs && check.status !== 'ok') lines.push(`    see: ${check.docs}`);
  }
  lines.push(diagnosis.ok ? 'Login works.' : 'Login does not work: fix the first ✗ above and run the doctor again.');
  // Last line of defence: nothing JWT-shaped or remembered as a secret leaves.
  return redact(lines.join('\n'), 64 * 1024);
}
