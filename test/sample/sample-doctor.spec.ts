import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, run } from '../support/pack.js';

/** `npm run doctor` of the sample: its own options, against the local stand-in for Azure it starts itself. */
describe('the sample\'s npm run doctor', () => {
  const script = join(repoRoot, 'sample/dist/doctor.js');

  const doctor = async (env: NodeJS.ProcessEnv) => {
    if (!existsSync(script)) throw new Error('sample/dist is missing: run `npm run build && npm run build:sample` first (npm test does)');
    try {
      const { stdout } = await run(process.execPath, [script], { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
      return { code: 0, stdout };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string };
      return { code: failed.code, stdout: failed.stdout ?? '' };
    }
  };

  it('passes with the sample\'s options, and names the fix for a wrong PGUSER', async () => {
    const healthy = await doctor({});
    expect([healthy.code, healthy.stdout.trim().split('\n').at(-1)]).toEqual([0, 'Login works.']);
    expect(healthy.stdout).toContain('ManagedIdentityCredential (given)');
    const wrong = await doctor({ PGUSER: 'todo-api' });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('fix: set PGUSER (or `user`) to "todo-api-identity"');
  }, 90_000);
});
