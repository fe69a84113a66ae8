import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packLibrary, repoRoot, run, unpackInto } from '../support/pack.js';

/**
 * Every ```ts block of the README type-checks as pasted into a Nest app (ESM, nodenext, the Nest
 * starter's decorator and isolatedModules settings) that installed the packed package. A block whose
 * first line is `// name.ts` is saved under that name, so blocks can import each other as a user's
 * files would.
 */
describe('README TypeScript snippets', () => {
  let app: string;

  /** The one file of the user's own that a snippet refers to: their secret store client. */
  const userCode = {
    'secrets.ts': `export const secrets = {
  async get(name: string): Promise<{ username: string; password: string; rotatesAt?: Date }> {
    return { username: name, password: 'from the vault' };
  },
};
`,
  };

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'entra-pg-readme-'));
    await unpackInto(await packLibrary(join(app, 'pack')), app);
    for (const entry of await readdir(join(repoRoot, 'node_modules'))) {
      await symlink(join(repoRoot, 'node_modules', entry), join(app, 'node_modules', entry));
    }
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'readme-app', type: 'module', private: true }));
  });
  afterAll(async () => {
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('all compile', async () => {
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const files: Record<string, string> = { ...userCode };
    blocks.forEach((code, index) => {
      const name = /^\/\/ ([\w.-]+\.ts)\b/.exec(code)?.[1] ?? `snippet-${index + 1}.ts`;
      expect(files[name]).toBeUndefined();
      files[name] = code;
    });
    for (const [name, code] of Object.entries(files)) await writeFile(join(app, name), code);
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'ES2023',
          strict: true,
          noEmit: true,
          isolatedModules: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          skipLibCheck: true,
          types: ['node', 'jest'],
        },
        files: Object.keys(files),
      }),
    );
    const tsc = run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 });
    await expect(tsc.catch((error: { stdout?: string }) => Promise.reject(new Error(error.stdout)))).resolves.toMatchObject({ stdout: '' });
  }, 150_000);
});
