import pino, { type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { prettyLine } from './pretty-line.js';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  level?: string;
  /** Human-readable lines instead of JSON; default: when the destination is a terminal. */
  pretty?: boolean;
  /** 1 = stdout (daemons), 2 = stderr (client commands, whose stdout carries data). */
  fd?: 1 | 2;
  name?: string;
}

export function isLogLevel(level: string): level is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(level);
}

/** JSON lines by default; pino-pretty, synchronously, when writing to a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 1;
  const level = options.level ?? 'info';
  if (!isLogLevel(level)) throw new Error(`unknown log level "${level}"; use one of ${LOG_LEVELS.join(', ')}`);
  const usePretty = options.pretty ?? Boolean((fd === 1 ? process.stdout : process.stderr).isTTY);
  const base = { level, name: options.name ?? 'anbox-oob', base: { pid: process.pid } };
  if (usePretty) {
    // One line per event for people: fields the message already shows are not repeated (see pretty-line.ts).
    const stream = pretty({
      destination: fd,
      sync: true,
      colorize: true,
      hideObject: true,
      ignore: 'pid,hostname,name',
      translateTime: 'HH:MM:ss.l',
      messageFormat: (record, messageKey) => prettyLine(record, messageKey),
    });
    return pino(base, stream);
  }
  return pino(base, pino.destination({ fd, sync: true }));
}
