// A production app as a user deploys it on AKS: EntraPgModule with no credential, host and port
// from PGHOST/PGPORT, everything else from the environment the workload-identity webhook injects.
// Run by test/sources/workload-identity.spec.ts in a child process; prints one RESULT line.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type pg from 'pg';
import { EntraPgModule, PG_POOL } from '../../lib/index.js';

@Module({ imports: [EntraPgModule.forRoot({ database: 'postgres', retryAttempts: 0, pool: { max: 4 } })] })
class WorkloadIdentityAppModule {}

const app = await NestFactory.createApplicationContext(WorkloadIdentityAppModule, { abortOnError: false });
try {
  const pool = app.get<pg.Pool>(PG_POOL);
  // A burst, as at startup under traffic: more callers than connections, all in one tick.
  const answers = await Promise.all(Array.from({ length: 12 }, () => pool.query<{ u: string }>('SELECT current_user AS u')));
  process.stdout.write(`RESULT ${JSON.stringify({ users: [...new Set(answers.map((answer) => answer.rows[0]!.u))] })}\n`);
} finally {
  await app.close();
}
