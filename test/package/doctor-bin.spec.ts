import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAzure } from '../../sample/local/local-azure.js';
import { packLibrary, repoRoot as root, run, unpackInto } from '../support/pack.js';

/**
 * `npx nestjs-entra-pg doctor` as users get it: the `bin` of the packed package, run by Node in an
 * app folder, against the sample's local stand-in for Azure (a real PostgreSQL and the App Service
 * managed-identity endpoint on loopback, reached by the real ManagedIdentityCredential).
 */
describe('the packed nestjs-entra-pg bin', () => {
  let app: string;
  let bin: string;
  let local: LocalAzure;

  beforeAll(async () => {
    local = await LocalAzure.start(60_000);
    app = await mkdtemp(join(tmpdir(), 'entra-pg-doctor-'));
    await unpackInto(await packLibrary(join(app, 'pack')), app);
    await mkdir(join(app, 'node_modules/@nestjs'), { recursive: true });
    for (const dep of ['@nestjs/common', '@nestjs/core', '@azure', 'reflect-metadata', 'pg', 'rxjs']) {
      await symlink(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
    }
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    const manifest = JSON.parse(await readFile(join(app, 'node_modules/nestjs-entra-pg/package.json'), 'utf8')) as { bin: Record<string, string> };
    bin = join(app, 'node_modules/nestjs-entra-pg', manifest.bin['nestjs-entra-pg']!);
  }, 120_000);
  afterAll(async () => {
    await local?.stop();
    if (app) await rm(app, { recursive: true, force: true });
  });

  /** Runs the bin with only the variables the app would have (production: the managed identity). */
  const doctor = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const env = { PATH: process.env.PATH, NODE_ENV: 'production', ...local.env, ...extra };
    try {
      const { stdout } = await run(process.execPath, [bin, 'doctor', ...args], { cwd: app, env, timeout: 30_000 });
      return { code: 0, stdout };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string };
      return { code: failed.code, stdout: failed.stdout ?? '' };
    }
  };

  it('starts with a shebang, so npx can run it', async () => {
    expect((await readFile(bin, 'utf8')).split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('passes every check against the sample in local mode', async () => {
    const { code, stdout } = await doctor([]);
    expect(code).toBe(0);
    const marks = stdout.trim().split('\n').filter((line) => /^[✓⚠✗·] /.test(line)).map((line) => line.split(' ', 2).join(' '));
    // TLS is skipped, not failed: the local server is on loopback, where the module leaves TLS off.
    expect(marks).toEqual(['✓ configuration', '✓ dns', '✓ tcp', '· tls', '✓ credential', '✓ token', '✓ login', '✓ after-login']);
    expect(stdout).toContain('ManagedIdentityCredential, system-assigned');
    expect(stdout).toContain('current_user todo-api-identity');
  });

  it('prints the failure and its fix, and exits 1, with a wrong role name; --json says the same', async () => {
    const text = await doctor([], { PGUSER: 'todo-api' });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('✗ login        refused as "todo-api": the login is as "todo-api" but the token is for "todo-api-identity"');
    expect(text.stdout).toContain('    fix: set PGUSER (or `user`) to "todo-api-identity"');
    const json = await doctor(['--json'], { PGUSER: 'todo-api' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ schemaVersion: 1, ok: false });
    for (const token of local.authority.tokens) expect(text.stdout + json.stdout).not.toContain(token);
  });
});
