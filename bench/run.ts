import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import { startPostgres, type TestPostgres } from '../test/support/postgres.js';
import { IMPLEMENTATIONS, type ImplementationSpec, type Target } from './implementations.js';
import { percentile, runLoad, type PhaseRecord } from './load.js';
import { type BenchResult, type ImplementationFigures, type PhaseFigures, latencySvg, markdownTable } from './report.js';

const settings = {
  phaseMs: Number(process.env.BENCH_PHASE_MS ?? 6_000),
  concurrency: 20,
  poolMax: 10,
  tokenLifetimeMs: 6_000,
  maxLifetimeSeconds: 3,
  slowIdentityMs: 2_000,
  coldStormQueries: 200,
};
const SQL = 'SELECT 1';
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '../../results');
let roleCounter = 0;

async function newTarget(db: TestPostgres, extra: Partial<Target> = {}): Promise<Target> {
  roleCounter += 1;
  const role = `bench_${roleCounter}`;
  await db.createRole(role);
  const staticPassword = `static-${role}`;
  await db.adminPool.query(`ALTER ROLE ${role} PASSWORD '${staticPassword}'`);
  const authority = new LocalTokenAuthority({ admin: db.admin, role, lifetimeMs: settings.tokenLifetimeMs });
  return { host: db.host, port: db.port, role, staticPassword, authority, max: settings.poolMax, maxLifetimeSeconds: settings.maxLifetimeSeconds, ...extra };
}

async function phase(db: TestPostgres, spec: ImplementationSpec, slowIdentity: boolean): Promise<{ record: PhaseRecord; figures: Omit<PhaseFigures, 'ratioToRaw'> }> {
  const target = await newTarget(db);
  const impl = await spec.create(target);
  const requestsBefore = target.authority.requests;
  const opened = impl.connectionsOpened();
  if (slowIdentity) target.authority.latencyMs = settings.slowIdentityMs;
  const record = await runLoad((sql) => impl.query(sql), {
    durationMs: settings.phaseMs,
    concurrency: settings.concurrency,
    sql: SQL,
    tokenRequests: () => target.authority.requests,
  });
  const figures = {
    ...summarize(record),
    tokenRequests: target.authority.requests - requestsBefore,
    connectionsOpened: impl.connectionsOpened() - opened,
    poolsReplaced: impl.poolsReplaced(),
  };
  target.authority.latencyMs = 0;
  await impl.close();
  await target.authority.close();
  return { record, figures };
}

function summarize(record: PhaseRecord) {
  const latencies = record.samples.map(([, l]) => l).sort((a, b) => a - b);
  return {
    qps: latencies.length / (record.durationMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    queries: latencies.length + record.failures.length,
    failedQueries: record.failures.length,
    errors: record.errorMessages,
  };
}

async function coldStorm(db: TestPostgres, spec: ImplementationSpec) {
  const target = await newTarget(db, { cold: true });
  target.authority.latencyMs = 100; // a realistic identity round trip, so concurrent callers overlap
  const started = performance.now();
  const impl = await spec.create(target);
  const outcomes = await Promise.allSettled(Array.from({ length: settings.coldStormQueries }, () => impl.query(SQL)));
  const figures = {
    queries: outcomes.length,
    failedQueries: outcomes.filter((o) => o.status === 'rejected').length,
    tokenRequests: target.authority.requests,
    durationMs: Math.round(performance.now() - started),
  };
  await impl.close();
  await target.authority.close();
  return figures;
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const db = await startPostgres();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const records = new Map<string, { normal: PhaseRecord; slowIdentity: PhaseRecord }>();
    const figures = new Map<string, { normal: Omit<PhaseFigures, 'ratioToRaw'>; slowIdentity: Omit<PhaseFigures, 'ratioToRaw'> }>();
    // Raw runs first and last; its mean is the reference, so drift over the run does not favour anyone.
    const order = [...IMPLEMENTATIONS, IMPLEMENTATIONS[0]!];
    const rawRuns: Array<{ normal: number; slow: number }> = [];
    for (const spec of order) {
      log(`${spec.label}: normal identity…`);
      const normal = await phase(db, spec, false);
      log(`  ${normal.figures.qps.toFixed(0)} qps, p99 ${normal.figures.p99Ms.toFixed(2)} ms, failed ${normal.figures.failedQueries}, tokens ${normal.figures.tokenRequests}`);
      log(`${spec.label}: identity slowed to ${settings.slowIdentityMs} ms…`);
      const slow = await phase(db, spec, true);
      log(`  ${slow.figures.qps.toFixed(0)} qps, p99 ${slow.figures.p99Ms.toFixed(2)} ms, failed ${slow.figures.failedQueries}, tokens ${slow.figures.tokenRequests}`);
      if (spec.key === 'raw') rawRuns.push({ normal: normal.figures.qps, slow: slow.figures.qps });
      if (!records.has(spec.key)) {
        records.set(spec.key, { normal: normal.record, slowIdentity: slow.record });
        figures.set(spec.key, { normal: normal.figures, slowIdentity: slow.figures });
      }
    }
    const rawReferenceQps = {
      normal: rawRuns.reduce((a, r) => a + r.normal, 0) / rawRuns.length,
      slowIdentity: rawRuns.reduce((a, r) => a + r.slow, 0) / rawRuns.length,
    };
    const implementations: ImplementationFigures[] = [];
    for (const spec of IMPLEMENTATIONS) {
      log(`${spec.label}: cold storm of ${settings.coldStormQueries} queries…`);
      const storm = await coldStorm(db, spec);
      const f = figures.get(spec.key)!;
      implementations.push({
        key: spec.key,
        label: spec.label,
        normal: { ...f.normal, ratioToRaw: f.normal.qps / rawReferenceQps.normal },
        slowIdentity: { ...f.slowIdentity, ratioToRaw: f.slowIdentity.qps / rawReferenceQps.slowIdentity },
        coldStorm: storm,
      });
    }
    const result: BenchResult = {
      generatedAt: new Date().toISOString(),
      command: 'npm run bench',
      machine: { node: process.version, cpus: cpus().length, platform: process.platform },
      settings,
      rawReferenceQps,
      implementations,
    };
    await mkdir(resultsDir, { recursive: true });
    await writeFile(join(resultsDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    const table = markdownTable(result);
    await writeFile(join(resultsDir, 'latest.md'), `${table}\n`);
    await writeFile(join(resultsDir, 'latency.svg'), latencySvg(result, records));
    log(`\n${table}\n\nraw runs (qps): ${rawRuns.map((r) => r.normal.toFixed(0)).join(', ')}`);
    log(`written: bench/results/latest.json, latest.md, latency.svg`);
  } finally {
    await db.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
