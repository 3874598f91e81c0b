// Fuzz knobs, all from the environment so that `npm run fuzz` and `npm test` share one code path.
// The seed is always printed together with the line that replays one case.

/** The seed when ANBOX_OOB_FUZZ_SEED is unset: fixed, so two runs fuzz the same cases. */
export const DEFAULT_SEED = 0x0a0b0c0d;

export interface FuzzConfig {
  seed: number;
  /** Daemon cases (npm test: a few thousand; npm run fuzz: 100,000). */
  daemonCases: number;
  /** In-process codec cases (cheap). */
  codecCases: number;
  /** Only these case indexes (ANBOX_OOB_FUZZ_ONLY=12,40): replaying failures. */
  only: number[] | undefined;
  /** How long one reply (or the hang-up that replaces it) may take; generous on purpose. */
  replyTimeoutMs: number;
}

function parseInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim().toLowerCase().startsWith('0x') ? parseInt(raw.trim().slice(2), 16) : Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}=${raw} is not a non-negative integer`);
  return value;
}

export function fuzzConfig(): FuzzConfig {
  const onlyRaw = process.env.ANBOX_OOB_FUZZ_ONLY;
  const only = onlyRaw ? onlyRaw.split(',').map((s) => Number(s.trim())) : undefined;
  if (only?.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new Error(`ANBOX_OOB_FUZZ_ONLY=${onlyRaw} must list case indexes`);
  return {
    seed: parseInteger('ANBOX_OOB_FUZZ_SEED', DEFAULT_SEED) >>> 0,
    daemonCases: parseInteger('ANBOX_OOB_FUZZ_CASES', 3000),
    codecCases: parseInteger('ANBOX_OOB_FUZZ_CODEC_CASES', 20_000),
    only,
    replyTimeoutMs: parseInteger('ANBOX_OOB_FUZZ_REPLY_TIMEOUT_MS', 15_000),
  };
}

export function seedHex(seed: number): string {
  return `0x${seed.toString(16).padStart(8, '0')}`;
}

/** The command line that runs exactly `index` again. */
export function replayCommand(seed: number, index: number, file: string): string {
  return `npm run build && ANBOX_OOB_FUZZ_SEED=${seedHex(seed)} ANBOX_OOB_FUZZ_ONLY=${index} npx vitest run ${file}`;
}

/** The list of case indexes to run. */
export function caseIndexes(config: FuzzConfig, count: number): number[] {
  return config.only ?? Array.from({ length: count }, (_, i) => i);
}
