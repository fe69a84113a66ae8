import { brokenLinks, existsUnder, headingAnchors, markdownFiles, markdownLinks, readMarkdown } from '../support/markdown.js';
import { repoRoot } from '../support/pack.js';

/** Every internal link of every Markdown file leads somewhere: the file exists, and an #anchor is a heading there, as GitHub slugs it. */
describe('Markdown links', () => {
  const files = readMarkdown(repoRoot, markdownFiles(repoRoot));

  it('are looked for in the README, docs/, bench/README.md, CONTRIBUTING.md and CHANGELOG.md', () => {
    expect([...files.keys()]).toEqual(
      expect.arrayContaining(['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'bench/README.md', 'docs/configuration.md', 'docs/troubleshooting.md']),
    );
    const internal = [...files].flatMap(([file, text]) => markdownLinks(file, text)).filter((link) => !/^[a-z]+:/i.test(link.target));
    expect(internal.length).toBeGreaterThan(40);
    expect(internal.filter((link) => link.target.includes('#')).length).toBeGreaterThan(10);
  });

  it('all resolve', () => {
    expect(brokenLinks(files, existsUnder(repoRoot))).toEqual([]);
  });

  it('the README links the pages other work documents: doctor, troubleshooting, high availability', () => {
    const targets = markdownLinks('README.md', files.get('README.md')!).map((link) => link.target);
    expect(targets).toEqual(expect.arrayContaining(['docs/doctor.md', 'docs/troubleshooting.md', 'docs/high-availability.md']));
  });

  describe('the checker', () => {
    const fixture = new Map([
      [
        'README.md',
        [
          '# Title',
          '## Differences from pg.Pool',
          '## `consumerEnd` and *shutdown*',
          '## Metrics (OpenTelemetry)',
          '## Repeat',
          '## Repeat',
          '[ok](#differences-from-pgpool) [ok](#consumerend-and-shutdown) [ok](#metrics-opentelemetry) [ok](#repeat-1)',
          '[ok](docs/a.md) [ok](docs/a.md#how-it-works) [ok](https://example.invalid/x#y) ![ok](bench/chart.svg)',
          '[broken](docs/missing.md) [broken](#vault-rotated-secrets) [broken](docs/a.md#nowhere) [broken](bench/chart.svg#x)',
          '`[in code](nowhere.md)`',
          '```md',
          '[in a block](nowhere.md)',
          '```',
        ].join('\n'),
      ],
      ['docs/a.md', '# How it works\n[ok](../README.md#title) [broken](../../outside.md) [broken](b.md)\n'],
    ]);
    const exists = (path: string) => fixture.has(path) || path === 'bench/chart.svg' || path === 'docs';

    it('slugs headings as GitHub does', () => {
      expect([...headingAnchors(fixture.get('README.md')!)]).toEqual([
        'title',
        'differences-from-pgpool',
        'consumerend-and-shutdown',
        'metrics-opentelemetry',
        'repeat',
        'repeat-1',
      ]);
    });

    it('reports a missing file, a missing anchor here or there, a path outside the repository, and nothing in code', () => {
      expect(brokenLinks(fixture, exists)).toEqual([
        'README.md:9: docs/missing.md (no file docs/missing.md)',
        'README.md:9: #vault-rotated-secrets (no heading #vault-rotated-secrets in README.md)',
        'README.md:9: docs/a.md#nowhere (no heading #nowhere in docs/a.md)',
        'README.md:9: bench/chart.svg#x (an anchor into bench/chart.svg, which is not a Markdown file)',
        'docs/a.md:2: ../../outside.md (outside the repository)',
        'docs/a.md:2: b.md (no file docs/b.md)',
      ]);
    });
  });
});
