import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const run = promisify(execFile);
// import.meta.dirname is not available in Jest's VM modules.
const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A user's app, outside this repository, that depends on the built package: it resolves
 * `nestjs-entra-pg` and `nestjs-entra-pg/testing` through the package's exports map, at run time
 * with Node and at compile time with TypeScript.
 */
describe('the built package, as an app imports it', () => {
  let db: TestPostgres;
  let app: string;

  beforeAll(async () => {
    if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    db = await startPostgres();
    await db.createRole('consumer_app');
    app = await mkdtemp(join(tmpdir(), 'entra-pg-consumer-'));
    await mkdir(join(app, 'node_modules'));
    await symlink(root, join(app, 'node_modules/nestjs-entra-pg'));
    for (const dep of ['@nestjs', 'reflect-metadata', 'pg', 'rxjs', '@types']) {
      await symlink(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
    }
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  });
  afterAll(async () => {
    await db?.stop();
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('runs with Node through the exports map', async () => {
    await writeFile(
      join(app, 'main.mjs'),
      `
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { EntraPgModule, EntraPgPool, PG_POOL } from 'nestjs-entra-pg';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
const admin = JSON.parse(process.env.ADMIN);
const authority = new LocalTokenAuthority({ admin, role: 'consumer_app', lifetimeMs: 30_000 });
const module = await Test.createTestingModule({
  imports: [EntraPgModule.forRoot({ host: admin.host, port: admin.port, credential: authority, retryAttempts: 0 })],
}).compile();
await module.init();
const pool = module.get(PG_POOL);
const { rows } = await pool.query('SELECT current_user AS u');
let deepImport = 'resolved';
try { await import('nestjs-entra-pg/dist/pool/entra-pg.pool.js'); } catch (e) { deepImport = e.code; }
console.log(JSON.stringify({ user: rows[0].u, isEntraPgPool: pool instanceof EntraPgPool, deepImport }));
await module.close();
await authority.close();
`,
    );
    const { stdout } = await run(process.execPath, ['main.mjs'], {
      cwd: app,
      env: { PATH: process.env.PATH, ADMIN: JSON.stringify(db.admin) },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
      user: 'consumer_app',
      isEntraPgPool: true,
      deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  it('type-checks against the shipped declarations', async () => {
    await writeFile(
      join(app, 'types.ts'),
      `
import type pg from 'pg';
import { EntraPgModule, InjectPgPool, type EntraPgModuleOptions, getPgPoolToken } from 'nestjs-entra-pg';
import { LocalTokenAuthority, ManagedIdentityEmulator } from 'nestjs-entra-pg/testing';
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
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: [] },
        files: ['types.ts'],
      }),
    );
    const tsc = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, timeout: 60_000 });
    await expect(tsc).resolves.toMatchObject({ stdout: '' });
  });
});
