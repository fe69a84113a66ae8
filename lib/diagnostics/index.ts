export type { CheckId, CheckStatus, Diagnosis, DiagnosisCheck } from './check.js';
export { diagnose, type DiagnoseDependencies } from './diagnose.js';
export { formatDiagnosis } from './format.js';
