import { spawn } from 'node:child_process';
import { repoRoot } from './pack.js';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript file of this repository in a fresh Node process (transpiled by
 * typescript-loader.mjs) with exactly `env` (nothing inherited but PATH), after the `preload`
 * modules; killed after `timeoutMs`. Resolves with how it ended, whatever that was.
 */
export function runTypeScriptChild(file: string, env: NodeJS.ProcessEnv, options: { preload?: string[]; timeoutMs: number }): Promise<ChildResult> {
  const imports = ['test/support/typescript-loader.mjs', ...(options.preload ?? [])].flatMap((module) => ['--import', `./${module}`]);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...imports, file], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const out = { stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out.stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, ...out }));
  });
}
