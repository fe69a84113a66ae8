import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import type { EntraPgPool } from '../../lib/index.js';
import { bootPool, newRole, viaFront } from '../support/harness.js';
import { repoRoot } from '../support/pack.js';
import { generatePrismaClient } from '../support/prisma.js';
import { CHURNED_POOL, TOKEN_LIFETIME_MS, acrossThreeLifetimes, backendsLeft, serverWithLogin } from './orm-support.js';

/** The model the test uses; the client is generated from it in beforeAll (`prisma generate`, no download). */
const schema = `
generator client {
  provider            = "prisma-client"
  output              = "./client"
  importFileExtension = "js"
}

datasource db {
  provider = "postgresql"
}

model Note {
  id   Int    @id @default(autoincrement())
  body String

  @@map("prisma_notes")
}
`;

/** What the test uses of the generated client (it does not exist when `npm run typecheck` runs). */
interface NoteClient {
  note: {
    create(args: { data: { body: string } }): Promise<{ id: number; body: string }>;
    findUniqueOrThrow(args: { where: { id: number } }): Promise<{ id: number; body: string }>;
    count(): Promise<number>;
  };
  $disconnect(): Promise<void>;
}
type PrismaClientClass = new (options: { adapter: PrismaPg }) => NoteClient;

describe('Prisma 7 with @prisma/adapter-pg over PG_POOL', () => {
  const env = serverWithLogin();
  let dir: string;
  let PrismaClient: PrismaClientClass;

  beforeAll(async () => {
    // Under the repository (.tmp/ is ignored by git), so the client resolves @prisma/client from node_modules.
    await mkdir(join(repoRoot, '.tmp'), { recursive: true });
    dir = await mkdtemp(join(repoRoot, '.tmp', 'prisma-'));
    await writeFile(join(dir, 'schema.prisma'), schema);
    await generatePrismaClient(join(dir, 'schema.prisma'));
    ({ PrismaClient } = (await import(pathToFileURL(join(dir, 'client/client.ts')).href)) as { PrismaClient: PrismaClientClass });
  }, 90_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves queries on the pool across three token lifetimes; $disconnect() leaves the pool to the app, even with disposeExternalPool', async () => {
    const { db, front } = env;
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const app = await bootPool(db, { ...viaFront(front), credential: authority, pool: CHURNED_POOL, drainTimeoutMs: 500 });
    let checkouts = 0;
    app.pool.on('acquire', () => (checkouts += 1));
    const prisma = new PrismaClient({ adapter: new PrismaPg(app.pool) });
    // With disposeExternalPool, $disconnect() calls pool.end(): the module ignores it while the app runs.
    const disposing = new PrismaClient({ adapter: new PrismaPg(app.pool, { disposeExternalPool: true }) });
    try {
      await app.pool.query('CREATE TABLE prisma_notes (id serial PRIMARY KEY, body text NOT NULL)');
      let n = 0;
      const stats = await acrossThreeLifetimes(async () => {
        n += 1;
        const note = await prisma.note.create({ data: { body: `note ${n}` } });
        expect(await prisma.note.findUniqueOrThrow({ where: { id: note.id } })).toEqual(note);
      });
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(stats.ok).toBeGreaterThan(10);
      expect(authority.requests).toBeGreaterThanOrEqual(3);
      // Prisma took its connections from PG_POOL: a pool of its own would not check out of ours (and
      // could not log in: it has no token).
      expect(checkouts).toBeGreaterThanOrEqual(2 * stats.ok);

      expect(await disposing.note.count()).toBe(stats.ok);
      await disposing.$disconnect();
      await prisma.$disconnect();
      expect((app.pool as EntraPgPool).ignoredEnds).toBe(1); // disposing's end(); prisma's adapter left the pool alone
      expect((await app.pool.query('SELECT count(*)::int AS n FROM prisma_notes')).rows[0].n).toBe(stats.ok);
      await app.close();
      expect(await backendsLeft(db, authority.role)).toBe(0);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
