import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';

/** Folders that hold no documentation of ours: dependencies, build output, generated files. */
const skipped = new Set(['node_modules', 'dist', '.git', 'coverage', '.tmp', 'profiles', '.prisma']);

/** Every Markdown file of the repository (README.md, docs/, bench/, CONTRIBUTING.md, CHANGELOG.md, …), as paths relative to `root` with `/`. */
export function markdownFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!skipped.has(entry.name)) walk(join(dir, entry.name));
      } else if (entry.name.endsWith('.md')) {
        found.push(relative(root, join(dir, entry.name)).split(sep).join('/'));
      }
    }
  };
  walk(root);
  return found.sort();
}

/** The body of every fenced block in one of `languages` (```ts … ```), in order. */
export function codeBlocks(markdown: string, languages: readonly string[]): string[] {
  const blocks: string[] = [];
  let open: { fence: string; indent: number; lines: string[] | undefined } | undefined;
  for (const line of markdown.split('\n')) {
    if (open) {
      if (line.trim() === open.fence) {
        if (open.lines) blocks.push(`${open.lines.join('\n')}\n`);
        open = undefined;
      } else {
        // A block inside a list item is indented as its fence is; the code is not.
        open.lines?.push(line.replace(new RegExp(`^ {0,${open.indent}}`), ''));
      }
      continue;
    }
    const start = /^( *)(`{3,}|~{3,})\s*([\w-]*)/.exec(line);
    if (start) open = { fence: start[2]!, indent: start[1]!.length, lines: languages.includes(start[3]!) ? [] : undefined };
  }
  return blocks;
}

/** The lines of a Markdown file outside fenced code blocks, each with inline code spans blanked. */
function prose(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (line.trim() === fence) fence = undefined;
      lines.push('');
      continue;
    }
    if (marker) {
      fence = marker;
      lines.push('');
      continue;
    }
    lines.push(line.replace(/(`+)[\s\S]*?\1/g, (span) => 'x'.repeat(span.length)));
  }
  return lines;
}

/** The anchors GitHub gives a file's headings (github-slugger: lowercase, punctuation dropped, spaces to hyphens, -1, -2 for repeats). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (marker && line.trim() === fence) fence = undefined;
      continue;
    }
    if (marker) {
      fence = marker;
      continue;
    }
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link shows its text
      .replace(/<[^>]+>/g, '') // HTML tags show nothing
      .replace(/[`*]/g, ''); // code and emphasis marks are not text
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

export interface MarkdownLink {
  file: string;
  line: number;
  target: string;
}

/** Every link and image target in a file's prose: [text](target), ![alt](target), [label]: target, href="…" and src="…". */
export function markdownLinks(file: string, markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  prose(markdown).forEach((text, index) => {
    const targets = [
      ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!),
      ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/g)].map((match) => match[1]!),
      ...[...text.matchAll(/\b(?:href|src)="([^"]+)"/g)].map((match) => match[1]!),
    ];
    for (const target of targets) links.push({ file, line: index + 1, target });
  });
  return links;
}

/**
 * The internal links of `files` (repository-relative path → text) that lead nowhere: a relative file
 * or folder that `exists` denies, or an `#anchor` that is no heading of the file it points into.
 * Links with a scheme (https:, mailto:) are not followed.
 */
export function brokenLinks(files: ReadonlyMap<string, string>, exists: (path: string) => boolean): string[] {
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (path: string): Set<string> | undefined => {
    if (!anchorsOf.has(path) && files.has(path)) anchorsOf.set(path, headingAnchors(files.get(path)!));
    return anchorsOf.get(path);
  };
  const broken: string[] = [];
  for (const [file, text] of files) {
    for (const { line, target } of markdownLinks(file, text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const hash = target.indexOf('#');
      const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const path = pathPart === '' ? file : posix.normalize(pathPart.startsWith('/') ? pathPart.slice(1) : posix.join(posix.dirname(file), pathPart));
      const where = `${file}:${line}: ${target}`;
      if (path.startsWith('..')) {
        broken.push(`${where} (outside the repository)`);
      } else if (pathPart !== '' && !exists(path.replace(/\/$/, ''))) {
        broken.push(`${where} (no file ${path})`);
      } else if (anchor !== undefined) {
        const known = anchors(path);
        if (!known) broken.push(`${where} (an anchor into ${path}, which is not a Markdown file)`);
        else if (!known.has(anchor)) broken.push(`${where} (no heading #${anchor} in ${path})`);
      }
    }
  }
  return broken;
}

/** Reads `paths` under `root` into the map brokenLinks() takes. */
export function readMarkdown(root: string, paths: readonly string[]): Map<string, string> {
  return new Map(paths.map((path) => [path, readFileSync(join(root, path), 'utf8')]));
}

/** Whether a repository-relative path exists under `root`. */
export const existsUnder = (root: string) => (path: string): boolean => existsSync(join(root, path));
