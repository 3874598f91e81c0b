/**
 * Puts a run's Markdown block into the README's Performance section (`BENCH_UPDATE_README=1`).
 *
 * Only marker comments on a line of their own count: the prose around the block may quote the
 * markers (in a code span), and an updater matching the first occurrence anywhere once replaced the
 * quote, leaving the newest table inside a sentence and an old one in the real block.
 */
import { MARKDOWN_BEGIN, MARKDOWN_END } from './summary.js';

export class ReadmeBlockError extends Error {}

/** Returns `text` with the one marked block (begin line .. end line, inclusive) replaced by `block`. */
export function replaceMarkedBlock(text: string, block: string): string {
  const lines = text.split('\n');
  const begins = indexesOf(lines, MARKDOWN_BEGIN);
  if (begins.length !== 1) {
    throw new ReadmeBlockError(`expected exactly one line holding only ${JSON.stringify(MARKDOWN_BEGIN)}, found ${begins.length}`);
  }
  const begin = begins[0]!;
  const end = lines.findIndex((line, i) => i > begin && line.trimEnd() === MARKDOWN_END);
  if (end < 0) throw new ReadmeBlockError(`no line holding only ${JSON.stringify(MARKDOWN_END)} after the begin marker (line ${begin + 1})`);
  if (!block.startsWith(`${MARKDOWN_BEGIN}\n`) || !block.endsWith(`\n${MARKDOWN_END}`)) {
    throw new ReadmeBlockError('the replacement must be a whole marked block (formatSummaryMarkdown output)');
  }
  return [...lines.slice(0, begin), block, ...lines.slice(end + 1)].join('\n');
}

function indexesOf(lines: readonly string[], marker: string): number[] {
  const found: number[] = [];
  lines.forEach((line, i) => {
    if (line.trimEnd() === marker) found.push(i);
  });
  return found;
}
