import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// import.meta.dirname is not available in Jest's VM modules.
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Manifest;

/** The lowest version of each major line in a range like "^20.19.0 || ^22.12.0 || >=24.0.0". */
function lowestOfEachLine(range: string): number[][] {
  return range.split('||').map((part) => {
    const match = /(\d+)\.(\d+)\.(\d+)/.exec(part);
    if (!match) throw new Error(`cannot read ${part}`);
    return match.slice(1).map(Number);
  });
}

/** Whether `version` satisfies an engines range of the ">=X[.Y.Z]" form every @azure package uses. */
function satisfiesAtLeast(version: number[], range: string): boolean {
  const match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!match) throw new Error(`unexpected engines range ${range}`);
  const wanted = match.slice(1).map((part) => Number(part ?? 0));
  for (let i = 0; i < 3; i += 1) if (version[i] !== wanted[i]) return version[i]! > wanted[i]!;
  return true;
}

/** @azure/identity and every @azure package it pulls in, as installed. */
function azureClosure(): Manifest[] {
  const seen = new Map<string, Manifest>();
  const visit = (name: string, from: string) => {
    const file = createRequire(from).resolve(`${name}/package.json`);
    if (seen.has(file)) return;
    const manifest = read(file);
    seen.set(file, manifest);
    for (const dep of Object.keys(manifest.dependencies ?? {})) if (dep.startsWith('@azure/')) visit(dep, file);
  };
  visit('@azure/identity', join(root, 'package.json'));
  return [...seen.values()];
}

describe('the Node versions this package claims', () => {
  const own = read(join(root, 'package.json'));
  const lowest = lowestOfEachLine(own.engines!.node!);

  it('are supported by the @azure/identity it is tested with, and everything that pulls in', () => {
    const closure = azureClosure();
    expect(closure[0]?.version).toBe(own.devDependencies?.['@azure/identity']);
    const unsupported = closure
      .filter((manifest) => manifest.engines?.node && lowest.some((version) => !satisfiesAtLeast(version, manifest.engines!.node!)))
      .map((manifest) => `${manifest.name}@${manifest.version} (node ${manifest.engines!.node})`);
    expect(unsupported).toEqual([]);
  });

  it('the README installs that same @azure/identity on Node 20', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`@azure/identity@${own.devDependencies?.['@azure/identity']}`);
  });
});
