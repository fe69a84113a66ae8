import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokenLinks, markdownFiles, readMarkdown } from '../support/markdown.js';
import { packLibrary, repoRoot as root, run, unpackInto } from '../support/pack.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** What both builds must do, run as a plain Node script: `load` is `import` or `require` of the package. */
const checks = (load: (specifier: string) => string) => `
const { Test } = ${load('@nestjs/testing')};
const { EntraPgModule, EntraPgPool, EntraPgHealthIndicator, PG_POOL } = ${load('nestjs-entra-pg')};
const { LocalTokenAuthority } = ${load('nestjs-entra-pg/testing')};
const admin = JSON.parse(process.env.ADMIN);
const authority = new LocalTokenAuthority({ admin, role: process.env.ROLE, lifetimeMs: 30_000 });
const module = await Test.createTestingModule({
  imports: [EntraPgModule.forRoot({ host: admin.host, port: admin.port, credential: authority, retryAttempts: 0 })],
}).compile();
await module.init();
const pool = module.get(PG_POOL);
const { rows } = await pool.query('SELECT current_user AS u');
const failure = (promise) => promise.then(() => 'no error', (e) => e.name + ': ' + e.message);
const health = await failure(module.get(EntraPgHealthIndicator).isHealthy());
const noIdentity = await failure(
  Test.createTestingModule({ imports: [EntraPgModule.forRoot({ host: admin.host, port: admin.port, name: 'x' })] }).compile(),
);
const mainEntry = ${load('nestjs-entra-pg')};
const awsEntry = ${load('nestjs-entra-pg/aws')};
const rdsIam = new awsEntry.AwsRdsIamSource({ hostname: '127.0.0.1', port: 5432, username: 'app', region: 'eu-west-1', credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' } });
const awsWithoutSdk = await failure(rdsIam.fetch(new AbortController().signal));
let deepImport = 'resolved';
try { await import('nestjs-entra-pg/dist/pool/entra-pg.pool.js'); } catch (e) { deepImport = e.code; }
const result = {
  user: rows[0].u, isEntraPgPool: pool instanceof EntraPgPool, health, noIdentity, deepImport,
  mainExports: Object.keys(mainEntry).sort(), awsExports: Object.keys(awsEntry).sort(), awsWithoutSdk,
};
await module.close();
await authority.close();
`;

/**
 * A user's app outside this repository that installs the packed tarball, without the optional peers
 * (@nestjs/terminus, @azure/identity): both builds load through the exports map, give the friendly
 * error for a missing peer, and type-check under each module resolution users have.
 */
describe('the packed package, as an app imports it', () => {
  let db: TestPostgres;
  let app: string;

  beforeAll(async () => {
    db = await startPostgres();
    await db.createRole('consumer_esm');
    await db.createRole('consumer_cjs');
    app = await mkdtemp(join(tmpdir(), 'entra-pg-consumer-'));
    await unpackInto(await packLibrary(join(app, 'pack')), app);
    await mkdir(join(app, 'node_modules/@nestjs'), { recursive: true });
    for (const dep of ['@nestjs/common', '@nestjs/core', '@nestjs/testing', 'reflect-metadata', 'pg', 'rxjs', '@types']) {
      await symlink(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
    }
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  });
  afterAll(async () => {
    await db?.stop();
    if (app) await rm(app, { recursive: true, force: true });
  });

  async function runScript(file: string, role: string): Promise<Record<string, unknown>> {
    const { stdout } = await run(process.execPath, [file], {
      cwd: app,
      env: { PATH: process.env.PATH, ADMIN: JSON.stringify(db.admin), ROLE: role },
      timeout: 30_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  }

  const expected = (user: string) => ({
    user,
    isEntraPgPool: true,
    health: expect.stringMatching(/^EntraPgConfigError: EntraPgHealthIndicator needs @nestjs\/terminus.*npm i @nestjs\/terminus/),
    noIdentity: expect.stringMatching(/^EntraPgConfigError: EntraPgModule "x": no credential was given and @azure\/identity is not installed/),
    deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    // What the main entry promises at run time (its types add EntraPgErrorCode, EntraPgConnection,
    // EntraPgPassword, EntraPgModuleOptions, EntraPgModuleAsyncOptions, EntraPgOptionsFactory,
    // PgSecret and PgSecretSource). The AWS sources are on their own subpath.
    mainExports: [
      'CallbackSource', 'ENTRA_CREDENTIAL', 'EntraPgConfigError', 'EntraPgCredentialError', 'EntraPgError', 'EntraPgHealthIndicator',
      'EntraPgLoginRefusedError', 'EntraPgModule', 'EntraPgPool', 'EntraPgShutdownError', 'EntraPgUnreachableError', 'EntraTokenSource', 'InjectPgPassword',
      'InjectPgPool', 'PG_PASSWORD', 'PG_POOL', 'PG_SECRET_SOURCE', 'SecretSourceError', 'StaticPasswordSource', 'asPgDriver',
      'connectionUrl', 'diagnoseEntraPg', 'formatDiagnosis', 'getEntraCredentialToken', 'getEntraPgConnectionToken', 'getPgPasswordToken', 'getPgPoolToken', 'getPgSecretSourceToken',
    ],
    awsExports: ['AwsRdsIamSource', 'AwsSecretsManagerSource'],
    awsWithoutSdk: expect.stringMatching(/^SecretSourceError: .*npm i @aws-sdk\/rds-signer/),
  });

  it('ships the README with the docs and the changelog it links, and each link to them resolves in node_modules', () => {
    const installed = join(app, 'node_modules/nestjs-entra-pg');
    const shipped = markdownFiles(installed);
    expect(shipped).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md', 'docs/configuration.md', 'docs/orm.md', 'docs/troubleshooting.md']));
    // The benchmark and the contributor notes stay in the repository (npm's site links them there).
    const inRepositoryOnly = /^(?:\.\.\/)*(?:bench\/|CONTRIBUTING\.md|test\/)/;
    const broken = brokenLinks(readMarkdown(installed, shipped), (path) => existsSync(join(installed, path)));
    expect(broken.filter((line) => !inRepositoryOnly.test(line.split(': ')[1]!))).toEqual([]);
  });

  it('runs the ESM build with import', async () => {
    const body = checks((specifier) => `await import('${specifier}')`);
    await writeFile(join(app, 'main.mjs'), `import 'reflect-metadata';\n${body}\nconsole.log(JSON.stringify(result));\n`);
    expect(await runScript('main.mjs', 'consumer_esm')).toEqual(expected('consumer_esm'));
  });

  it('runs the CommonJS build with require, sharing string tokens with the ESM build in one process', async () => {
    const body = checks((specifier) => `require('${specifier}')`);
    await writeFile(
      join(app, 'main.cjs'),
      `require('reflect-metadata');
(async () => {
${body}
  // A file that require()s the package and one that imports it get different builds; the tokens are
  // strings, so a pool registered through one is injected through the other.
  const cjs = require('nestjs-entra-pg');
  const esm = await import('nestjs-entra-pg');
  result.twoBuilds = cjs.EntraPgModule !== esm.EntraPgModule;
  result.sameToken = cjs.PG_POOL === esm.PG_POOL && cjs.getPgPoolToken('r') === esm.getPgPoolToken('r');
  result.noImportMeta = !require('node:fs').readFileSync(require.resolve('nestjs-entra-pg/package.json').replace('package.json', 'dist/cjs/health/entra-pg.health.js'), 'utf8').includes('import.meta');
  console.log(JSON.stringify(result));
})().catch((error) => { console.error(error); process.exit(1); });
`,
    );
    expect(await runScript('main.cjs', 'consumer_cjs')).toEqual({
      ...expected('consumer_cjs'),
      twoBuilds: true,
      sameToken: true,
      noImportMeta: true,
    });
  });

  const typeUse = (importType: string) => `
${importType}
import { asPgDriver, type EntraPgConnection, type EntraPgHealthIndicator, EntraPgModule, type EntraPgModuleOptions, getPgPoolToken, InjectPgPool } from 'nestjs-entra-pg';
import { LocalTokenAuthority, ManagedIdentityEmulator } from 'nestjs-entra-pg/testing';
import { AwsRdsIamSource, type AwsSecretsManagerSourceOptions } from 'nestjs-entra-pg/aws';
export const rdsIam: EntraPgModuleOptions = {
  host: 'orders.abc123xyz.eu-west-1.rds.amazonaws.com',
  source: new AwsRdsIamSource({ hostname: 'orders.abc123xyz.eu-west-1.rds.amazonaws.com', username: 'orders_app', region: 'eu-west-1' }),
};
export const secretOptions: AwsSecretsManagerSourceOptions = { secretId: 'prod/orders-db' };
// With \`declaration\`, what public methods return must be nameable from the package (TS2883 otherwise).
export const ping = (health: EntraPgHealthIndicator) => health.isHealthy('database', { timeoutMs: 500 });
export const driver = (pool: pg.Pool) => asPgDriver(pool);
export const status = (connection: EntraPgConnection) => connection.status();
const options: EntraPgModuleOptions = { host: 'db.postgres.database.azure.com', pool: { max: 5 } };
export const mod = EntraPgModule.forRootAsync({ name: 'reports', useFactory: () => options });
export const token: string = getPgPoolToken('reports');
export const decorator: ParameterDecorator = InjectPgPool();
export type Emulator = ManagedIdentityEmulator;
export async function use(authority: LocalTokenAuthority, pool: pg.Pool): Promise<number> {
  await authority.getToken();
  const { rows } = await pool.query<{ n: number }>('SELECT 1 AS n');
  return rows[0]!.n;
}
`;

  // Each build's declarations are checked in full once (skipLibCheck off); the other resolutions
  // land on the same files, so there only the app's own file is checked.
  it.each([
    ['nodenext, an ES module', 'types.mts', { module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: false }],
    ['nodenext, a CommonJS module', 'types.cts', { module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: true }],
    ['bundler', 'bundled.ts', { module: 'esnext', moduleResolution: 'bundler', esModuleInterop: true, skipLibCheck: true }],
    // The Nest 11.0 starter: `module: commonjs`, which means node10 resolution (no exports map).
    ['node10 (moduleResolution: node)', 'types.ts', { module: 'commonjs', moduleResolution: 'node', esModuleInterop: true, skipLibCheck: false }],
  ])('type-checks against the shipped declarations under %s', async (_, file, options) => {
    await writeFile(join(app, file), typeUse(file === 'types.ts' || file === 'types.cts' ? "import type * as pg from 'pg';" : "import type pg from 'pg';"));
    const project = `tsconfig.${file}.json`;
    await writeFile(
      join(app, project),
      JSON.stringify({
        compilerOptions: { ...options, target: 'ES2022', strict: true, noEmit: true, declaration: true, types: [] },
        files: [file],
      }),
    );
    const tsc = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: app, timeout: 60_000 });
    await expect(tsc).resolves.toMatchObject({ stdout: '' });
  });
});
