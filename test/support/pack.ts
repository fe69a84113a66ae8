import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
// import.meta.dirname is not available in Jest's VM modules.
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** `npm pack` of the built repository into `dir`, as a user would get it from the registry; returns the tarball. */
export async function packLibrary(dir: string): Promise<string> {
  if (!existsSync(join(repoRoot, 'dist/cjs/index.js'))) {
    throw new Error('dist/ is missing or incomplete: run `npm run build` first (npm test does)');
  }
  await mkdir(dir, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repoRoot, timeout: 60_000 });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  return join(dir, filename);
}

/** Unpacks a tarball from packLibrary() as `<app>/node_modules/nestjs-entra-pg` (a copy, not a link). */
export async function unpackInto(tarball: string, app: string): Promise<void> {
  const target = join(app, 'node_modules/nestjs-entra-pg');
  await mkdir(target, { recursive: true });
  await run('tar', ['xzf', tarball, '-C', target, '--strip-components=1'], { timeout: 30_000 });
}
