import { existsSync, readFileSync } from 'node:fs';

/**
 * Self time of .cpuprofile files by package (ours, pg, pg-pool, pg-protocol, OpenTelemetry, Node
 * internals, GC) and by function, per query when bench/profile.ts left its .json beside the profile.
 *
 *   node bench/dist/bench/profile-summary.js [--top 25] a.cpuprofile [b.cpuprofile …]
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const PACKAGES: Array<[RegExp, string]> = [
  [/\/node_modules\/pg-pool\//, 'pg-pool'],
  [/\/node_modules\/pg-protocol\//, 'pg-protocol'],
  [/\/node_modules\/pg\//, 'pg'],
  [/\/node_modules\/(pg-types|postgres-[a-z]+|pgpass|pg-connection-string)\//, 'pg helpers'],
  [/\/node_modules\/@opentelemetry\//, 'otel'],
  [/\/node_modules\/@nestjs\//, 'nest'],
  [/\/(dist|lib)\/(pool|refresh|metrics|credentials|common|health)\//, 'ours'],
  [/\/bench\/dist\//, 'bench load'],
  [/^node:|^internal\//, 'node internals'],
];

function packageOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(idle)' || functionName === '(program)' || functionName === '(root)') return functionName;
  if (url === '') return 'native (builtins, C++)';
  for (const [pattern, name] of PACKAGES) if (pattern.test(url)) return name;
  return 'other';
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('/node_modules/');
  if (i >= 0) return url.slice(i + '/node_modules/'.length);
  const j = url.search(/\/(dist|lib|bench)\//);
  return j >= 0 ? url.slice(j + 1) : url;
}

function summarize(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the time spent in sample i is the next delta.
  for (let i = 0; i < profile.samples.length; i += 1) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
  }
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, { pkg: string; us: number }>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const pkg = packageOf(node);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    if (pkg !== '(idle)') busyUs += us;
    const key = `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    const entry = byFunction.get(key) ?? { pkg, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  const metaFile = file.replace(/\.cpuprofile$/, '.json');
  const meta = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as { queries: number; qps: number; cpuUsPerQuery: number }) : undefined;
  // Samples count wall time on the thread, descheduled time included when the machine is busy;
  // shares of the process's own CPU per query are the comparable figure.
  const per = (us: number) => (meta ? `${((us / busyUs) * meta.cpuUsPerQuery).toFixed(2).padStart(7)} µs/q` : '');
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)} %`;
  const out: string[] = [];
  out.push(`== ${file}`);
  if (meta) out.push(`   ${meta.queries} queries, ${meta.qps} qps, ${meta.cpuUsPerQuery.toFixed(1)} µs CPU/query (process), shared out below`);
  const notJs = new Set(['(idle)', '(program)', 'gc', 'native (builtins, C++)']);
  const jsUs = [...byPackage].filter(([pkg]) => !notJs.has(pkg)).reduce((sum, [, us]) => sum + us, 0);
  out.push(`   JavaScript (all but native, GC, program) ${pct(jsUs)} ${per(jsUs)}`);
  out.push('   by package (self time, share of non-idle samples):');
  for (const [pkg, us] of [...byPackage].sort((a, b) => b[1] - a[1])) {
    if (pkg === '(idle)') continue;
    out.push(`     ${pkg.padEnd(24)} ${pct(us)} ${per(us)}`);
  }
  out.push(`   top ${top} functions:`);
  for (const [key, { pkg, us }] of [...byFunction].filter(([, f]) => f.pkg !== '(idle)').sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    out.push(`     ${pct(us)} ${per(us)}  [${pkg}] ${key}`);
  }
  const ours = [...byFunction].filter(([, f]) => f.pkg === 'ours').sort((a, b) => b[1].us - a[1].us);
  if (ours.length > 0) {
    out.push('   ours, every function:');
    for (const [key, { us }] of ours) out.push(`     ${pct(us)} ${per(us)}  ${key}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

const argv = process.argv.slice(2);
let top = 25;
const files: string[] = [];
for (let i = 0; i < argv.length; i += 1) {
  if (argv[i] === '--top') top = Number(argv[++i]);
  else files.push(argv[i]!);
}
if (files.length === 0) {
  process.stderr.write('usage: profile-summary [--top N] file.cpuprofile …\n');
  process.exit(2);
}
for (const file of files) summarize(file, top);
