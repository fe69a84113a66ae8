#!/usr/bin/env node
// The package's bin: `npx nestjs-entra-pg doctor [options]`. No top-level await: the same file is
// built as CommonJS too.
import { Logger } from '@nestjs/common';
import { redact } from '../common/redact.js';
import { DOCTOR_EXIT, DOCTOR_USAGE, runDoctor } from './doctor.js';

const [command, ...args] = process.argv.slice(2);
if (command !== 'doctor') {
  process.stdout.write(`${DOCTOR_USAGE}\n`);
  process.exitCode = command === undefined || command === '--help' || command === '-h' ? DOCTOR_EXIT.loginWorks : DOCTOR_EXIT.usage;
} else {
  // The checklist says which credential was picked; Nest's log lines would break --json.
  Logger.overrideLogger(false);
  runDoctor(args, { env: process.env, print: (text) => process.stdout.write(`${text}\n`) }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stdout.write(`nestjs-entra-pg doctor failed: ${redact(error instanceof Error ? error.message : String(error))}\n`);
      process.exitCode = DOCTOR_EXIT.checkFailed;
    },
  );
}
