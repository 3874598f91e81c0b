/** One subcommand of `anbox-oob`. run() returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

/** A mistake in how the command was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Runs `body` with a signal that aborts on SIGINT/SIGTERM, for commands that stop cleanly on them. */
export async function untilSignalled<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function parseUid(value: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`--allow-uid takes a numeric uid, not "${value}"`);
  const uid = Number(value);
  if (uid > 0xfffffffe) throw new UsageError(`--allow-uid ${value} is not a valid uid`);
  return uid;
}
