import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { untraversableFolder } from './postgres.js';

describe('test PostgreSQL start-up checks', () => {
  it('finds the folder the postgres OS user cannot traverse (a clone inside a mode-0700 folder)', async () => {
    const base = await mkdtemp(join(tmpdir(), 'entra-pg-perm-'));
    const inner = join(base, 'private', 'repo', 'node_modules');
    await mkdir(inner, { recursive: true });
    try {
      await chmod(base, 0o755);
      await chmod(join(base, 'private'), 0o700);
      expect(await untraversableFolder(inner)).toBe(join(base, 'private'));
      await chmod(join(base, 'private'), 0o755);
      expect(await untraversableFolder(inner)).toBeUndefined();
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
