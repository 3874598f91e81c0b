/**
 * docs/logging.md lists every `event` the daemons log. This test keeps it true: an event logged in
 * src/ that the page does not list fails, and so does a listed event that src/ no longer logs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

const SRC = join(REPO_ROOT, 'src');
const DOC = join(REPO_ROOT, 'docs', 'logging.md');
/** `<area>.<what>`, lower_snake after each dot. */
const EVENT_NAME = /^[a-z]+(\.[a-z0-9]+(_[a-z0-9]+)*)+$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

interface Logged {
  /** Literal names, with where they are. */
  names: Map<string, string>;
  /** `watcher.${event}`-style names, as patterns. */
  templates: { pattern: RegExp; where: string }[];
}

/**
 * Every `event: …` in an object literal (`{ event: 'a.b' }`, `{ event: ok ? 'a.b' : 'a.c' }`,
 * `{ event: \`a.${x}\` }`) and every dotted literal in an `event` parameter's type
 * (`#logResult(event: 'a.b' | 'a.c')`). Comment lines are skipped; an emitter's
 * `on(event: 'message')` has no dot and is no log event.
 */
function loggedEvents(): Logged {
  const names = new Map<string, string>();
  const templates: Logged['templates'] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => (/^\s*(\*|\/\/|\/\*)/.test(line) ? '' : line))
      .join('\n');
    for (const match of text.matchAll(/([{,(])\s*event:\s*([^,\n]*)/g)) {
      const where = `${relative(REPO_ROOT, file)}:${text.slice(0, match.index).split('\n').length}`;
      const inObject = match[1] !== '(';
      for (const literal of match[2]!.matchAll(/'([^']*)'/g)) {
        const name = literal[1]!;
        if (!inObject && !name.includes('.')) continue;
        names.set(name, where);
      }
      for (const template of match[2]!.matchAll(/`([^`]*)`/g)) {
        const source = template[1]!
          .split(/\$\{[^}]*\}/)
          .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
          .join('[a-z0-9_]+');
        templates.push({ pattern: new RegExp(`^${source}$`), where });
      }
    }
  }
  return { names, templates };
}

/** The first column of the tables under "## Every event". */
/** Not daemons: the headless web client logs for a person, to stderr, without events. */
const CLIENT_ONLY = [join('src', 'headless-client'), join('src', 'cli', 'commands', 'client.ts')];

/**
 * Daemon log calls whose first argument is a string or an object literal without `event`
 * (a variable, like `fields`, or an object spreading one first, is assembled with its event
 * elsewhere, where the extraction above sees it).
 */
function logCallsWithoutEvent(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(REPO_ROOT, file);
    if (CLIENT_ONLY.some((prefix) => rel.startsWith(prefix))) continue;
    const text = readFileSync(file, 'utf8');
    for (const call of text.matchAll(/\b(?:log|logger)\.(?:fatal|error|warn|info|debug|trace)\(\s*/g)) {
      const at = call.index + call[0].length;
      const first = text[at];
      const line = text.slice(0, call.index).split('\n').length;
      if (first === "'" || first === '`' || first === '"') found.push(`${rel}:${line}`);
      else if (first === '{') {
        // The object literal up to its closing brace.
        let depth = 0;
        let end = at;
        for (; end < text.length; end++) {
          if (text[end] === '{') depth++;
          else if (text[end] === '}' && --depth === 0) break;
        }
        const fields = text.slice(at + 1, end);
        // `{ ...logFields, err }`: the spread variable carries the event.
        if (!/(^|[{,\s])event[:,\s}]/.test(fields) && !/^\s*\.\.\.\w/.test(fields)) found.push(`${rel}:${line}`);
      }
    }
  }
  return found;
}

function documentedEvents(): string[] {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf('\n## Every event');
  if (start < 0) throw new Error('docs/logging.md has no "## Every event" section');
  return [...text.slice(start).matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

describe('docs/logging.md', () => {
  const logged = loggedEvents();
  const documented = documentedEvents();

  it('finds the events (the extraction itself works)', () => {
    expect(logged.names.size).toBeGreaterThan(50);
    for (const name of ['transaction.served', 'transaction.refused', 'serve.ready', 'broadcast.failed', 'adb.reverse.reestablished', 'config.insecure_file']) {
      expect(logged.names.has(name), name).toBe(true);
    }
    expect(logged.names.has('message')).toBe(false);
  });

  it('lists every event logged in src/', () => {
    const missing = [...logged.names].filter(([name]) => !documented.includes(name)).map(([name, where]) => `${name} (${where})`);
    expect(missing, 'add these to docs/logging.md').toEqual([]);
    for (const { pattern, where } of logged.templates) {
      expect(documented.some((name) => pattern.test(name)), `docs/logging.md lists no event matching ${pattern} (${where})`).toBe(true);
    }
  });

  it('lists no event that src/ does not log', () => {
    const stale = documented.filter((name) => !logged.names.has(name) && !logged.templates.some(({ pattern }) => pattern.test(name)));
    expect(stale, 'remove these from docs/logging.md, or log them').toEqual([]);
  });

  it('every daemon log line has an event', () => {
    expect(logCallsWithoutEvent(), 'give these log calls an `event` (and list it here)').toEqual([]);
  });

  it('lists each event once', () => {
    expect(documented.filter((name, i) => documented.indexOf(name) !== i)).toEqual([]);
  });

  it('names events <area>.<what> in lower_snake', () => {
    const wrong = [...logged.names].filter(([name]) => !EVENT_NAME.test(name)).map(([name, where]) => `${name} (${where})`);
    expect(wrong).toEqual([]);
  });
});
