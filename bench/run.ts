import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import { startPostgres, type TestPostgres } from '../test/support/postgres.js';
import { type DirectFigures, direct } from './direct.js';
import { PGBOUNCER_INSTALL_HINT, startPgBouncer } from '../test/support/pgbouncer.js';
import { FrontProcess } from './front-process.js';
import { IMPLEMENTATIONS, type Implementation, type ImplementationSpec, type Target } from './implementations.js';
import { percentile, queryRound, runLoad, type PhaseRecord } from './load.js';
import { type BenchResult, type ImplementationFigures, type PhaseFigures, latencySvg, markdownTable } from './report.js';

const settings = {
  phaseMs: Number(process.env.BENCH_PHASE_MS ?? 8_000),
  concurrency: 20,
  poolMax: 10,
  tokenLifetimeMs: 5_000,
  maxLifetimeSeconds: 3,
  slowIdentityMs: 2_000,
  coldStormQueries: 200,
  identityCacheFraction: 0.4,
  overheadRounds: 8,
  referenceSlices: 4,
  overheadRoundQueries: Number(process.env.BENCH_OVERHEAD_QUERIES ?? 60_000),
  // Many short rounds rather than a few long ones: the shared machine's load drifts over seconds,
  // and the median of many adjacent pairs settles where a few long rounds did not.
  directRounds: 60,
  directRoundQueries: Number(process.env.BENCH_DIRECT_QUERIES ?? 5_000),
};
const SQL = 'SELECT 1';
/** Lifetime of the ceiling's token: it never expires within a run. */
const NEVER_MS = 365 * 24 * 3600 * 1000;
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '../../results');
let roleCounter = 0;

/**
 * A fresh role behind the login front: every implementation logs in through it, as against Azure,
 * where any unexpired token works. The ceiling (raw) uses a registered token that never expires,
 * so it takes the same path.
 */
async function newTarget(db: TestPostgres, front: FrontProcess, extra: Partial<Target> = {}): Promise<Target> {
  roleCounter += 1;
  const role = `bench_${roleCounter}`;
  await db.createRole(role);
  const ceiling = new LocalTokenAuthority({ admin: db.admin, role, lifetimeMs: NEVER_MS, login: front });
  const staticPassword = (await ceiling.getToken()).token;
  await ceiling.close();
  // Like the managed-identity service, hand out a cached token while it is young.
  const authority = new LocalTokenAuthority({
    admin: db.admin,
    role,
    lifetimeMs: settings.tokenLifetimeMs,
    cacheForMs: settings.tokenLifetimeMs * settings.identityCacheFraction,
    login: front,
  });
  return { host: front.host, port: front.port, role, staticPassword, authority, max: settings.poolMax, maxLifetimeSeconds: settings.maxLifetimeSeconds, ...extra };
}

type Figures = Omit<PhaseFigures, 'ratioToRaw'>;

/**
 * One phase of load on a fresh implementation. With `reference`, the phase is cut into slices and
 * a raw pg.Pool gets an equal slice before each one, so the ratio to raw compares the two under
 * the same machine conditions (two shared cores drift by ±10 % over a run). Token refreshes go on
 * in the background between slices; latency and failure figures come from the implementation's
 * slices only.
 */
async function phase(
  db: TestPostgres,
  front: FrontProcess,
  spec: ImplementationSpec,
  slowIdentity: boolean,
  reference?: Implementation,
): Promise<{ record: PhaseRecord; figures: Figures; rawQps: number | undefined }> {
  const target = await newTarget(db, front);
  const impl = await spec.create(target);
  const requestsBefore = target.authority.requests;
  const opened = impl.connectionsOpened();
  if (slowIdentity) target.authority.latencyMs = settings.slowIdentityMs;
  const wallStart = performance.now();
  const slices = reference ? settings.referenceSlices : 1;
  const sliceMs = settings.phaseMs / slices;
  const load = (query: (sql: string) => Promise<unknown>, tokenRequests: () => number) =>
    runLoad(query, { durationMs: sliceMs, concurrency: settings.concurrency, sql: SQL, tokenRequests });
  let record: PhaseRecord | undefined;
  let rawQueries = 0;
  let rawMs = 0;
  for (let i = 0; i < slices; i += 1) {
    if (reference) {
      const raw = await load((sql) => reference.query(sql), () => 0);
      rawQueries += raw.latencies.length - raw.failures.length;
      rawMs += raw.durationMs;
    }
    const part = await load((sql) => impl.query(sql), () => target.authority.requests);
    record = record ? appendRecord(record, part) : part;
  }
  const figures = {
    ...summarize(record!),
    wallMs: Math.round(performance.now() - wallStart),
    tokenRequests: target.authority.requests - requestsBefore,
    connectionsOpened: impl.connectionsOpened() - opened,
    poolsReplaced: impl.poolsReplaced(),
  };
  target.authority.latencyMs = 0;
  await impl.close();
  await target.authority.close();
  return { record: record!, figures, rawQps: reference ? rawQueries / (rawMs / 1000) : undefined };
}

/** Appends a later slice to a phase record, on one time axis of the implementation's own slices. */
function appendRecord(into: PhaseRecord, part: PhaseRecord): PhaseRecord {
  const offset = into.durationMs;
  const bucketOffset = Math.round(offset / into.bucketMs);
  for (const latency of part.latencies) into.latencies.push(latency);
  part.bucketMax.forEach((v, b) => {
    if (v !== undefined) into.bucketMax[b + bucketOffset] = v;
  });
  for (const t of part.failures) into.failures.push(t + offset);
  for (const t of part.tokenRequestTimes) into.tokenRequestTimes.push(t + offset);
  for (const m of part.errorMessages) if (into.errorMessages.length < 3) into.errorMessages.push(m);
  into.durationMs += part.durationMs;
  return into;
}

function summarize(record: PhaseRecord) {
  const latencies = Float64Array.from(record.latencies).sort();
  const succeeded = latencies.length - record.failures.length;
  // The chart needs only the per-bucket maxima; free the samples before the next phase.
  record.latencies = [];
  return {
    qps: succeeded / (record.durationMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.length ? latencies[latencies.length - 1]! : Number.NaN,
    queries: latencies.length,
    failedQueries: record.failures.length,
    errors: record.errorMessages,
  };
}

async function coldStorm(db: TestPostgres, front: FrontProcess, spec: ImplementationSpec) {
  const target = await newTarget(db, front, { cold: true });
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

/**
 * Throughput against raw pg.Pool measured in alternating rounds, so drift of the shared machine
 * hits both alike: raw with a never-expiring token, nestjs-entra-pg with the same 5-second tokens as the
 * phases (refreshed several times over the rounds), both recycling connections every 3 s. CPU
 * time of this process per query is reported too: it is steadier than throughput on two cores.
 */
async function overhead(db: TestPostgres, front: FrontProcess) {
  const [rawSpec, oursSpec] = [IMPLEMENTATIONS.find((i) => i.key === 'raw')!, IMPLEMENTATIONS.find((i) => i.key === 'nestjs-entra-pg')!];
  const [rawTarget, target] = [await newTarget(db, front), await newTarget(db, front)];
  const raw = await rawSpec.create(rawTarget);
  const ours = await oursSpec.create(target);
  const requestsBefore = target.authority.requests;
  const measure = async (impl: { query(sql: string): Promise<unknown> }) => {
    const relay0 = (await front.stats()).cpuUs;
    const round = await queryRound(impl, settings.overheadRoundQueries, settings.concurrency);
    const relayUs = (await front.stats()).cpuUs - relay0;
    return { ...round, relayCpuUs: relayUs / settings.overheadRoundQueries };
  };
  await measure(raw);
  await measure(ours);
  type Round = { qps: number; cpuUs: number; relayCpuUs: number };
  const rounds: Array<{ raw: Round; ours: Round }> = [];
  for (let i = 0; i < settings.overheadRounds; i += 1) rounds.push({ raw: await measure(raw), ours: await measure(ours) });
  await raw.close();
  await ours.close();
  await rawTarget.authority.close();
  await target.authority.close();
  const mean = (pick: (r: (typeof rounds)[number]) => number) => rounds.reduce((a, r) => a + pick(r), 0) / rounds.length;
  const tokenRequests = target.authority.requests - requestsBefore;
  return {
    tokenRequests,
    rounds: rounds.length,
    queriesPerRound: settings.overheadRoundQueries,
    rawQps: mean((r) => r.raw.qps),
    entraPgQps: mean((r) => r.ours.qps),
    qpsRatio: mean((r) => r.ours.qps) / mean((r) => r.raw.qps),
    rawCpuUsPerQuery: mean((r) => r.raw.cpuUs),
    entraPgCpuUsPerQuery: mean((r) => r.ours.cpuUs),
    rawRelayCpuUsPerQuery: mean((r) => r.raw.relayCpuUs),
    entraPgRelayCpuUsPerQuery: mean((r) => r.ours.relayCpuUs),
  };
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const db = await startPostgres();
  const front = await FrontProcess.start(db.admin);
  const runStart = performance.now();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const directSettings = { rounds: settings.directRounds, queries: settings.directRoundQueries, concurrency: 32, poolMax: 20 };
    const describeDirect = (d: DirectFigures) =>
      `  control (raw again) ${d.rawControl.qpsRatio.toFixed(3)} / ${d.rawControl.cpuRatio.toFixed(3)}; ` +
      `static ${d.staticPassword.qpsRatio.toFixed(3)} × raw qps, ${d.staticPassword.cpuRatio.toFixed(3)} × raw CPU; ` +
      `token ${d.tokenSource.qpsRatio.toFixed(3)} / ${d.tokenSource.cpuRatio.toFixed(3)}; ` +
      `token + metrics ${d.tokenSourceWithMetrics.qpsRatio.toFixed(3)} / ${d.tokenSourceWithMetrics.cpuRatio.toFixed(3)}`;
    log('direct: raw pg.Pool and nestjs-entra-pg (static password, token credential, with metrics) alternated, no relay…');
    const hotPath = await direct(db, directSettings);
    log(describeDirect(hotPath));
    let pooled: DirectFigures | undefined;
    const bouncer = await startPgBouncer(db);
    if (bouncer) {
      log('through PgBouncer (transaction mode): the same rounds…');
      try {
        pooled = await direct(db, directSettings, bouncer);
      } finally {
        await bouncer.stop();
      }
      log(describeDirect(pooled));
    } else {
      log(`PgBouncer is not installed: its rows are skipped (${PGBOUNCER_INSTALL_HINT}).`);
    }
    log('overhead: raw pg.Pool and nestjs-entra-pg alternated…');
    const wrapper = await overhead(db, front);
    log(`  ratio ${wrapper.qpsRatio.toFixed(3)}, CPU per query ${wrapper.rawCpuUsPerQuery.toFixed(2)} µs raw, ${wrapper.entraPgCpuUsPerQuery.toFixed(2)} µs nestjs-entra-pg (relay ${wrapper.rawRelayCpuUsPerQuery.toFixed(2)} / ${wrapper.entraPgRelayCpuUsPerQuery.toFixed(2)} µs)`);
    const records = new Map<string, { normal: PhaseRecord; slowIdentity: PhaseRecord }>();
    const figures = new Map<string, { normal: Figures; slowIdentity: Figures }>();
    // Each implementation is compared with a raw run right before it, so drift of the machine over
    // the run (it is shared by the database and the load) does not favour anyone.
    const rawSpec = IMPLEMENTATIONS.find((spec) => spec.key === 'raw')!;
    const referenceTarget = await newTarget(db, front);
    const reference = await rawSpec.create(referenceTarget);
    const adjacentRaw = new Map<string, { normal: number; slow: number }>();
    for (const spec of IMPLEMENTATIONS) {
      log(`${spec.label}: normal identity, alternating with raw…`);
      const normal = await phase(db, front, spec, false, reference);
      log(`  ${normal.figures.qps.toFixed(0)} qps (raw ${normal.rawQps!.toFixed(0)}), p99 ${normal.figures.p99Ms.toFixed(2)} ms, failed ${normal.figures.failedQueries}, tokens ${normal.figures.tokenRequests}`);
      log(`${spec.label}: identity slowed to ${settings.slowIdentityMs} ms, alternating with raw…`);
      const slow = await phase(db, front, spec, true, reference);
      log(`  ${slow.figures.qps.toFixed(0)} qps (raw ${slow.rawQps!.toFixed(0)}), p99 ${slow.figures.p99Ms.toFixed(2)} ms, failed ${slow.figures.failedQueries}, tokens ${slow.figures.tokenRequests}`);
      adjacentRaw.set(spec.key, { normal: normal.rawQps!, slow: slow.rawQps! });
      records.set(spec.key, { normal: normal.record, slowIdentity: slow.record });
      figures.set(spec.key, { normal: normal.figures, slowIdentity: slow.figures });
    }
    await reference.close();
    await referenceTarget.authority.close();
    const rawRuns = [...adjacentRaw.values()];
    const rawReferenceQps = {
      normal: rawRuns.reduce((a, r) => a + r.normal, 0) / rawRuns.length,
      slowIdentity: rawRuns.reduce((a, r) => a + r.slow, 0) / rawRuns.length,
    };
    const implementations: ImplementationFigures[] = [];
    for (const spec of IMPLEMENTATIONS) {
      log(`${spec.label}: cold storm of ${settings.coldStormQueries} queries…`);
      const storm = await coldStorm(db, front, spec);
      const f = figures.get(spec.key)!;
      implementations.push({
        key: spec.key,
        label: spec.label,
        normal: { ...f.normal, ratioToRaw: f.normal.qps / adjacentRaw.get(spec.key)!.normal },
        slowIdentity: { ...f.slowIdentity, ratioToRaw: f.slowIdentity.qps / adjacentRaw.get(spec.key)!.slow },
        coldStorm: storm,
      });
    }
    const result: BenchResult = {
      generatedAt: new Date().toISOString(),
      command: 'npm run bench',
      machine: { node: process.version, cpus: cpus().length, platform: process.platform },
      settings,
      rawReferenceQps,
      rawReferenceRunsQps: rawRuns.map((run) => Math.round(run.normal)),
      overhead: wrapper,
      direct: hotPath,
      pgbouncer: pooled,
      relay: await relayFigures(front, runStart),
      implementations,
    };
    await mkdir(resultsDir, { recursive: true });
    await writeFile(join(resultsDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    const table = markdownTable(result);
    await writeFile(join(resultsDir, 'latest.md'), `${table}\n`);
    await writeFile(join(resultsDir, 'latency.svg'), latencySvg(result, records));
    log(`\n${table}\n\nraw reference runs (qps): ${rawRuns.map((r) => r.normal.toFixed(0)).join(', ')}`);
    log(`written: bench/results/latest.json, latest.md, latency.svg`);
  } finally {
    await front.close();
    await db.stop();
  }
}

/** The login front's own CPU over the whole run, apart from this process's. */
async function relayFigures(front: FrontProcess, runStart: number) {
  const stats = await front.stats();
  const wallMs = performance.now() - runStart;
  return { cpuMs: Math.round(stats.cpuUs / 1000), wallMs: Math.round(wallMs), cpuShare: stats.cpuUs / 1000 / wallMs, logins: stats.logins, refusals: stats.refusals };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
