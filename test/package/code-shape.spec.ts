import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../support/pack.js';

/**
 * The shape CONTRIBUTING.md promises of lib/: functions short enough to read whole, no import
 * cycle, and pg's private members touched from lib/pool/pg-internals.ts alone (a pg release that
 * renames one breaks one file, and its bootstrap check says so).
 */
const LIB = join(repoRoot, 'lib');
const MAX_FUNCTION_LINES = 60;
const PG_INTERNALS = 'pool/pg-internals.ts';

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const files = sourceFiles(LIB).map((path) => ({
  path,
  name: relative(LIB, path),
  source: ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true),
}));

describe('the shape of lib/', () => {
  it(`has no function longer than ${MAX_FUNCTION_LINES} lines`, () => {
    const long: string[] = [];
    for (const { name, source } of files) {
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
          const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          const label = (node as { name?: ts.Node }).name?.getText(source) ?? '(anonymous)';
          if (last - first + 1 > MAX_FUNCTION_LINES) long.push(`${name}:${first + 1} ${label} (${last - first + 1} lines)`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(long).toEqual([]);
  });

  it('has no import cycle', () => {
    const graph = new Map<string, string[]>();
    for (const { path, source } of files) {
      const targets: string[] = [];
      for (const statement of source.statements) {
        const specifier =
          (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)
            ? statement.moduleSpecifier.text
            : undefined;
        // Type-only imports count too: two files that must be read together are one concept, or a
        // type is in the wrong file.
        if (specifier?.startsWith('.')) targets.push(resolve(dirname(path), specifier.replace(/\.js$/, '.ts')));
      }
      graph.set(path, targets);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const walk = (node: string, trail: string[]): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(node)), node].map((path) => relative(LIB, path)).join(' -> '));
        return;
      }
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) walk(next, [...trail, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) walk(node, []);
    expect(cycles).toEqual([]);
  });

  it(`touches pg's private members only in ${PG_INTERNALS}`, () => {
    // An underscore member of pg's Client or Pool, or the wire connection and its socket.
    const PRIVATE = /\._(queryable|connected|connecting|ending|ended|pulseQueue|clients|idle|pendingQueue|txStatus|handleReadyForQuery|activeQuery|poolUseCount)\b|\.connection\??\.stream\b|\bconnection:\s*\{\s*stream/;
    const offenders = files.filter(({ name, source }) => name !== PG_INTERNALS && PRIVATE.test(source.text)).map(({ name }) => name);
    expect(offenders).toEqual([]);
  });
});
