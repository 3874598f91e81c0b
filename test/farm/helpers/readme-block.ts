import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../helpers/cli.js';

/**
 * The fenced block between `<!-- NAME:begin … -->` and `<!-- NAME:end -->` in README.md, without
 * its fences: what the README tells a reader to type or to write, which a test then runs as is.
 */
export function readmeBlock(name: string): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const begin = readme.split('\n').findIndex((line) => line.startsWith(`<!-- ${name}:begin`));
  const lines = readme.split('\n');
  const end = lines.findIndex((line, i) => i > begin && line.trimEnd() === `<!-- ${name}:end -->`);
  if (begin < 0 || end < 0) throw new Error(`README.md has no <!-- ${name}:begin … --> … <!-- ${name}:end --> block`);
  const inside = lines.slice(begin + 1, end);
  if (!inside[0]?.startsWith('```') || inside.at(-1) !== '```') throw new Error(`the ${name} block of README.md is not one fenced code block`);
  return inside.slice(1, -1).join('\n');
}
