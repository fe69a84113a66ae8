import { repoRoot, run } from './pack.js';

/**
 * `prisma generate` for `schemaPath`, without any download: Prisma 7 generates its client in
 * TypeScript and needs no engine for it, but the CLI resolves a schema engine first (and downloads
 * one when it has none); any executable satisfies it. Checkpoint (Prisma's update check) is off, and
 * the loopback guard ends the CLI at its first connection or DNS lookup for anything but 127.0.0.1.
 */
export async function generatePrismaClient(schemaPath: string): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CI: 'true',
    PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };
  const preload = ['test/support/typescript-loader.mjs', 'test/support/loopback-only.guard.ts'].flatMap((file) => ['--import', `./${file}`]);
  await run(process.execPath, [...preload, 'node_modules/prisma/build/index.js', 'generate', '--schema', schemaPath], {
    cwd: repoRoot,
    env,
    timeout: 60_000,
  }).catch((error: { stdout?: string; stderr?: string }) => Promise.reject(new Error(`prisma generate failed: ${error.stderr}${error.stdout}`)));
}
