import type { DirectFigures } from './direct.js';
import type { PhaseRecord } from './load.js';

export interface PhaseFigures {
  qps: number;
  /** Wall-clock length of the phase, raw slices included: the time token refreshes ran over. */
  wallMs: number;
  ratioToRaw: number | null;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  queries: number;
  failedQueries: number;
  tokenRequests: number;
  connectionsOpened: number;
  poolsReplaced: number;
  errors: string[];
}

export interface StormFigures {
  queries: number;
  failedQueries: number;
  tokenRequests: number;
  durationMs: number;
}

export interface ImplementationFigures {
  key: string;
  label: string;
  normal: PhaseFigures;
  slowIdentity: PhaseFigures;
  coldStorm: StormFigures;
}

export interface BenchResult {
  generatedAt: string;
  command: string;
  machine: { node: string; cpus: number; platform: string };
  settings: Record<string, number>;
  rawReferenceQps: { normal: number; slowIdentity: number };
  rawReferenceRunsQps: number[];
  overhead: {
    tokenRequests: number;
    rounds: number;
    queriesPerRound: number;
    rawQps: number;
    entraPgQps: number;
    qpsRatio: number;
    rawCpuUsPerQuery: number;
    entraPgCpuUsPerQuery: number;
    /** CPU of the login front's process per query (it runs apart, so it is not in the figures above). */
    rawRelayCpuUsPerQuery: number;
    entraPgRelayCpuUsPerQuery: number;
  };
  /** The wrapper's own cost straight to PostgreSQL, with no relay. */
  direct: DirectFigures;
  /** The same through PgBouncer in transaction mode; absent when PgBouncer is not installed. */
  pgbouncer: DirectFigures | undefined;
  /** The login front (LocalEntraLogin) every implementation logs in through, in its own process. */
  relay: { cpuMs: number; wallMs: number; cpuShare: number; logins: number; refusals: number };
  implementations: ImplementationFigures[];
}

const f = (n: number | null, digits = 1) => (n === null || Number.isNaN(n) ? '–' : n.toFixed(digits));

export function markdownTable(result: BenchResult): string {
  const lines = [
    '| implementation | qps | × raw | p50 ms | p99 ms | max ms | failed | token requests | new connections | pools replaced | identity 2 s: qps | p99 ms | max ms | failed | cold storm: token requests / failed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const i of result.implementations) {
    const n = i.normal;
    const s = i.slowIdentity;
    lines.push(
      `| ${i.label} | ${f(n.qps, 0)} | ${f(n.ratioToRaw, 3)} | ${f(n.p50Ms, 2)} | ${f(n.p99Ms, 2)} | ${f(n.maxMs, 0)} | ${n.failedQueries} | ${n.tokenRequests} | ${n.connectionsOpened} | ${n.poolsReplaced} | ${f(s.qps, 0)} | ${f(s.p99Ms, 2)} | ${f(s.maxMs, 0)} | ${s.failedQueries} | ${i.coldStorm.tokenRequests} / ${i.coldStorm.failedQueries} |`,
    );
  }
  const o = result.overhead;
  const variant = (v: DirectFigures['tokenSource']) =>
    `**${f(v.qpsRatio, 3)} × raw** qps [${f(v.qpsRatioCi[0], 3)}–${f(v.qpsRatioCi[1], 3)}], ${f(v.cpuRatio, 3)} × raw CPU per query [${f(v.cpuRatioCi[0], 3)}–${f(v.cpuRatioCi[1], 3)}]`;
  const directLine = (d: DirectFigures) =>
    `${d.path === 'pgbouncer' ? 'Through PgBouncer (transaction mode, loopback, tokens passed through)' : 'Direct to PostgreSQL, no relay'} (${d.rounds} alternating rounds × ${d.queriesPerRound} queries, ${d.concurrency} workers on a pool of ${d.poolMax}): raw pg.Pool ${f(d.rawQps, 0)} qps, ${f(d.rawCpuUsPerQuery, 2)} µs CPU per query; a second raw pg.Pool (the control: what no difference looks like) ${variant(d.rawControl)}; nestjs-entra-pg with a static password ${variant(d.staticPassword)}; with a token credential ${variant(d.tokenSource)}; with a token credential and OpenTelemetry metrics ${variant(d.tokenSourceWithMetrics)} (ratios: median over rounds of the ratio to raw in the same round, [95 % confidence interval]; connections opened during the rounds: raw ${d.rawConnectionsOpened}, ours ${d.staticPassword.connectionsOpened} / ${d.tokenSource.connectionsOpened} / ${d.tokenSourceWithMetrics.connectionsOpened}).`;
  lines.push('', directLine(result.direct));
  lines.push('', result.pgbouncer ? directLine(result.pgbouncer) : 'PgBouncer was not installed for this run: no pooler rows (apt-get install pgbouncer).');
  lines.push(
    '',
    `Alternating rounds (${o.rounds} × ${o.queriesPerRound} queries each, nestjs-entra-pg on rotating 5-second tokens with ${o.tokenRequests} refreshes during the rounds): nestjs-entra-pg ${f(o.entraPgQps, 0)} qps vs raw ${f(o.rawQps, 0)} qps = **${f(o.qpsRatio, 3)} × raw**; CPU per query ${f(o.entraPgCpuUsPerQuery, 2)} µs vs ${f(o.rawCpuUsPerQuery, 2)} µs.`,
    '',
    `Every implementation logs in through the local Entra login front (LocalEntraLogin) in a process of its own, which relays every byte: ${f(o.entraPgRelayCpuUsPerQuery, 2)} µs vs ${f(o.rawRelayCpuUsPerQuery, 2)} µs of its CPU per query in the rounds above; over the whole run ${result.relay.cpuMs} ms CPU in ${f(result.relay.wallMs / 1000, 0)} s (${f(result.relay.cpuShare * 100, 0)} % of a core), ${result.relay.logins} logins, ${result.relay.refusals} refused.`,
  );
  return lines.join('\n');
}

const COLORS = ['#444', '#0a7d32', '#1f5fbf', '#b8860b', '#8a2be2', '#c0392b'];

/** Small multiples: per implementation and phase, the worst latency of each 250 ms over time, log scale. */
export function latencySvg(result: BenchResult, records: Map<string, { normal: PhaseRecord; slowIdentity: PhaseRecord }>): string {
  const panelW = 520;
  const panelH = 120;
  const left = 250;
  const top = 50;
  const gap = 28;
  const width = left + 2 * panelW + 3 * 20;
  const height = top + result.implementations.length * (panelH + gap) + 40;
  const yMin = Math.log10(0.1);
  const yMax = Math.log10(5000);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="15" font-weight="bold">Worst query latency per 250 ms across token rotations (log scale, ms)</text>`,
    `<text x="${left}" y="38" fill="#555">grey dashes: token requests · red ticks: failed queries · left: normal identity · right: identity slowed to 2 s</text>`,
  ];
  result.implementations.forEach((impl, row) => {
    const y0 = top + row * (panelH + gap);
    out.push(`<text x="10" y="${y0 + panelH / 2}" fill="${COLORS[row % COLORS.length]}" font-weight="bold">${escape(impl.label)}</text>`);
    const rec = records.get(impl.key)!;
    (['normal', 'slowIdentity'] as const).forEach((phase, col) => {
      const x0 = left + col * (panelW + 20);
      const r = rec[phase];
      const sx = (ms: number) => x0 + (ms / r.durationMs) * panelW;
      const sy = (latency: number) => {
        const v = (Math.log10(Math.max(0.1, Math.min(5000, latency))) - yMin) / (yMax - yMin);
        return y0 + panelH - v * panelH;
      };
      out.push(`<rect x="${x0}" y="${y0}" width="${panelW}" height="${panelH}" fill="#fafafa" stroke="#ccc"/>`);
      for (const tick of [1, 10, 100, 1000]) {
        out.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${sy(tick)}" y2="${sy(tick)}" stroke="#eee"/>`);
        if (col === 0) out.push(`<text x="${x0 - 4}" y="${sy(tick) + 4}" text-anchor="end" fill="#888" font-size="10">${tick}</text>`);
      }
      for (const t of r.tokenRequestTimes) out.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${y0}" y2="${y0 + panelH}" stroke="#999" stroke-dasharray="3,3"/>`);
      const points: string[] = [];
      r.bucketMax.forEach((v, b) => {
        if (v !== undefined) points.push(`${sx(b * r.bucketMs + r.bucketMs / 2).toFixed(1)},${sy(v).toFixed(1)}`);
      });
      out.push(`<polyline fill="none" stroke="${COLORS[row % COLORS.length]}" stroke-width="1.5" points="${points.join(' ')}"/>`);
      const failBuckets = new Set(r.failures.map((t) => Math.floor(t / 50)));
      for (const b of failBuckets) out.push(`<line x1="${sx(b * 50)}" x2="${sx(b * 50)}" y1="${y0 + panelH - 14}" y2="${y0 + panelH}" stroke="#d00" stroke-width="2"/>`);
      const figures = impl[phase];
      out.push(
        `<text x="${x0 + 6}" y="${y0 + 14}" fill="#333" font-size="11">p99 ${f(figures.p99Ms, 1)} ms · max ${f(figures.maxMs, 0)} ms · failed ${figures.failedQueries} · tokens ${figures.tokenRequests}</text>`,
      );
    });
  });
  out.push(`<text x="${left}" y="${height - 12}" fill="#555">x: time in the phase (${(result.settings.phaseMs ?? 0) / 1000} s); generated by ${escape(result.command)} on ${result.generatedAt}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
