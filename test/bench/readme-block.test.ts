/**
 * The README's Performance block: the updater (bench/readme-block.ts) touches only marker comments
 * on a line of their own, never a marker quoted in the prose, and the README's block is a run's
 * block from bench/results, the newest one, verbatim.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReadmeBlockError, replaceMarkedBlock } from '../../bench/readme-block.js';
import { MARKDOWN_BEGIN, MARKDOWN_END } from '../../bench/summary.js';
import { REPO_ROOT } from '../helpers/cli.js';

const block = (body: string) => `${MARKDOWN_BEGIN}\n${body}\n${MARKDOWN_END}`;

describe('replaceMarkedBlock', () => {
  it('replaces the block between marker lines and leaves a marker quoted in prose alone', () => {
    const prose = `Replace everything from \`${MARKDOWN_BEGIN}\` to \`${MARKDOWN_END}\`, then the figures.`;
    const readme = ['# Performance', '', prose, '', block('old table'), '', 'After.'].join('\n');
    const updated = replaceMarkedBlock(readme, block('new table'));
    expect(updated).toBe(['# Performance', '', prose, '', block('new table'), '', 'After.'].join('\n'));
  });

  it('refuses a text with no marker line, two marker lines, or no end line', () => {
    expect(() => replaceMarkedBlock(`quoted \`${MARKDOWN_BEGIN}\` only`, block('x'))).toThrow(ReadmeBlockError);
    expect(() => replaceMarkedBlock(`${block('a')}\n${block('b')}`, block('x'))).toThrow(/found 2/);
    expect(() => replaceMarkedBlock(`${MARKDOWN_BEGIN}\ntable`, block('x'))).toThrow(/no line holding only/);
    expect(() => replaceMarkedBlock(block('a'), 'not a block')).toThrow(/whole marked block/);
  });
});

describe('README.md', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

  it('holds exactly one marked block, and it is the newest saved run, verbatim', () => {
    const lines = readme.split('\n');
    expect(lines.filter((l) => l === MARKDOWN_BEGIN)).toHaveLength(1);
    expect(lines.filter((l) => l === MARKDOWN_END)).toHaveLength(1);
    const inReadme = readme.slice(readme.indexOf(`\n${MARKDOWN_BEGIN}\n`) + 1, readme.indexOf(`\n${MARKDOWN_END}`) + MARKDOWN_END.length + 1);
    const resultsDir = join(REPO_ROOT, 'bench', 'results');
    const newest = readdirSync(resultsDir).filter((f) => f.endsWith('Z.md')).sort().at(-1)!;
    const saved = readFileSync(join(resultsDir, newest), 'utf8');
    const savedBlock = saved.slice(saved.indexOf(MARKDOWN_BEGIN), saved.indexOf(MARKDOWN_END) + MARKDOWN_END.length);
    expect(inReadme, `README block vs bench/results/${newest}`).toBe(savedBlock);
  });
});
