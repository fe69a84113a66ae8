export type { CheckId, CheckStatus, Diagnosis, DiagnosisCheck } from './check.js';
export { diagnose, diagnoseEntraPg, type DiagnoseDependencies } from './diagnose.js';
export { formatDiagnosis } from './format.js';
