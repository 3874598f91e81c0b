/**
 * The human-readable form of a log record (`--log-format pretty`, the default on a terminal): the
 * message, then `[event]`, then the fields a reader does not already see in the message as compact
 * `key=value` pairs, all on one line; an error's stack on the lines below. JSON lines carry every
 * field; this form is for people watching `npm start`.
 */

/** Fields every record has, or that pino-pretty prints itself. */
const SKIPPED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'event', 'err', 'error', 'v']);

/** `serve` prints these once in its start-up banner (src/cli/serve-banner.ts): not repeated on its pretty log lines. */
const IN_SERVE_BANNER = new Set(['pageUrl', 'gateway', 'token', 'socketDir', 'servicePath', 'configFile', 'next']);
const BANNER_EVENTS = new Set(['platform.started', 'serve.ready']);

export function prettyLine(record: Record<string, unknown>, messageKey = 'msg'): string {
  const inBanner = record.role === 'serve' && typeof record.event === 'string' && BANNER_EVENTS.has(record.event);
  const message = typeof record[messageKey] === 'string' ? (record[messageKey] as string) : '';
  const parts: string[] = [message];
  if (typeof record.event === 'string') parts.push(`[${record.event}]`);
  for (const [key, value] of Object.entries(record)) {
    if (SKIPPED.has(key) || key === messageKey) continue;
    if (inBanner && IN_SERVE_BANNER.has(key)) continue;
    const text = formatValue(value);
    if (text === undefined) continue;
    const shown = typeof value === 'string' ? value : text;
    if (shown.length > 0 && message.includes(shown)) continue;
    parts.push(`${key}=${text}`);
  }
  const error = record.err ?? record.error;
  let line = parts.join(' ');
  if (typeof error === 'string') line += ` error=${JSON.stringify(error)}`;
  else if (error && typeof error === 'object') {
    const { message: errorMessage, stack } = error as { message?: unknown; stack?: unknown };
    if (typeof stack === 'string') line += `\n    ${stack.split('\n').join('\n    ')}`;
    else if (typeof errorMessage === 'string') line += ` error=${JSON.stringify(errorMessage)}`;
  }
  return line;
}

/** undefined: not worth a column (null, empty). */
function formatValue(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value) && value.length === 0) return undefined;
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
