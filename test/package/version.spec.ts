import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/pack.js';

/** The version users see in package.json, the changelog and the library's own messages tell one story. */
describe('the package version', () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const changelog = readFileSync(join(repoRoot, 'CHANGELOG.md'), 'utf8');
  const sections = [...changelog.matchAll(/^## (?:Unreleased \()?(\d+\.\d+\.\d+)\)?$/gm)].map((match) => match[1]!);

  it("is the changelog's newest section", () => {
    expect(sections[0]).toBe(version);
  });

  it('has a changelog section, newest first, for every version before it', () => {
    const [major, minor] = version.split('.').map(Number) as [number, number];
    // 0.1.0 was the first release.
    const expected = Array.from({ length: major === 0 ? minor : minor + 1 }, (_, index) => `${major}.${minor - index}.0`);
    expect(sections).toEqual(expected);
  });

  it("names no version in lib/'s messages that the changelog lacks or that is newer than the package", () => {
    const files = readdirSync(join(repoRoot, 'lib'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    const mentioned = new Set(
      files.flatMap((file) =>
        [...readFileSync(join(repoRoot, 'lib', file), 'utf8').matchAll(/\b(?:in|before|since|from) (\d+\.\d+)\b|\b(\d+\.\d+)'s\b/g)].map((match) => match[1] ?? match[2]!),
      ),
    );
    const number = (text: string) => text.split('.').reduce((sum, part) => sum * 1000 + Number(part), 0);
    for (const release of mentioned) {
      expect(sections).toContain(`${release}.0`);
      expect(number(`${release}.0`)).toBeLessThanOrEqual(number(version));
    }
  });
});
