import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { ReceivedBroadcast } from '../../broadcast/local/intent-codec.js';
import { listenForBroadcasts, type BroadcastListener } from '../../broadcast/local/receiver.js';
import { RECEIVERS_DIR_ENV, resolveReceiversDir } from '../../broadcast/local/receivers-dir.js';
import { CHANNEL_STATUS_ACTION } from '../../broadcast/types.js';
import { ChannelNameError, validateChannelName } from '../../channels/channel-name.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, untilSignalled, type Command } from '../command.js';
import { sharedPathOption } from '../client-paths.js';

const HELP = `Usage: anbox-oob listen [--receivers-dir DIR] [--count N] [--allow-shared-dir]

Receives the daemon's channel status broadcasts (the ones an Android app gets as
com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS) and prints each as one JSON line as it
arrives:

  {"sequence":1,"event":"created","names":["foo"],"timestamp":1700000000000,"action":"com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS"}

sequence counts 1, 2, 3, ... per daemon run (a gap means broadcasts were missed, a smaller number
that the daemon restarted); timestamp is Unix time in milliseconds. Only broadcasts made while
listening are printed: the channels that exist already are in \`anbox-oob status\`.

What arrives is shown, not trusted: a broadcast naming a channel the daemon could never make (a
name that fails the channel name rules: 1-64 of A-Z a-z 0-9 . _ -, not "." or "..") or carrying
another action is still printed, with "valid":false, "invalidNames" (the offending names) and
"problems" (why) added. Control and invisible characters are escaped (\\uXXXX) in every line.

How it works: this command binds a Unix datagram socket, <pid>-<random>.sock, in the receivers
directory, and the daemon sends every broadcast to every socket there. So the daemon must use the
SAME directory: both default to <runtime dir>/receivers ($XDG_RUNTIME_DIR/anbox/receivers, else
/run/user/<uid>/anbox/receivers, else <tmp>/anbox-oob-<uid>/receivers), and both honour
${RECEIVERS_DIR_ENV}; if the daemon was started with another directory, pass it here. The
directory is created (mode 0700) when missing, so this may start before the daemon. It must be
yours (or root's), writable by nobody else and not a symlink, as the daemon also requires; else
this exits 1 saying why (--allow-shared-dir uses it anyway, with a warning).

Options:
  --receivers-dir DIR   the receivers directory (env ${RECEIVERS_DIR_ENV}; else "receivers-dir" in the
                        daemons' config file; default above)
  --count N             exit after N broadcasts (default: run until SIGINT/SIGTERM)
  --allow-shared-dir    use a receivers dir another uid owns or others may write (warned on stderr)
  -h, --help            show this help

Exits 0 after N broadcasts or on SIGINT/SIGTERM, removing its socket; 1 when the socket cannot be
bound; 2 on usage errors. Undecodable datagrams are reported on stderr and skipped.`;

/** Where the command writes; the real process's streams, or test doubles. */
export interface ListenIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Aborting it stops the command as SIGINT/SIGTERM would. */
  signal?: AbortSignal;
  /** Called once the socket is bound, with its path (tests wait for it). */
  onListening?(path: string): void;
}

export const listenCommand: Command = {
  name: 'listen',
  summary: 'print channel status broadcasts as JSON lines as they arrive (a local receiver)',
  help: HELP,
  async run(argv) {
    return untilSignalled((signal) => runListen(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal }));
  },
};

/**
 * One broadcast as the line `listen` prints (with its newline). The datagram is shown, not
 * trusted: names that fail the channel name validator and an unexpected action are flagged
 * ("valid": false, "invalidNames", "problems") rather than dropped, and every control or invisible
 * character is escaped so that a hostile name cannot drive the terminal.
 */
export function broadcastJsonLine(broadcast: ReceivedBroadcast): string {
  const { sequence, event, names, timestamp, action } = broadcast;
  const problems: string[] = [];
  const invalidNames: string[] = [];
  for (const name of names) {
    try {
      validateChannelName(name);
    } catch (error) {
      if (!(error instanceof ChannelNameError)) throw error;
      invalidNames.push(name);
      problems.push(error.message);
    }
  }
  if (action !== CHANNEL_STATUS_ACTION) problems.push(`action is ${JSON.stringify(action)}, not ${CHANNEL_STATUS_ACTION}`);
  const line = problems.length === 0 ? { sequence, event, names, timestamp, action } : { sequence, event, names, timestamp, action, valid: false, invalidNames, problems };
  return `${escapeInvisible(JSON.stringify(line))}\n`;
}

/**
 * JSON.stringify escapes C0 controls but leaves DEL, the C1 controls (U+0080-U+009F: ESC sequences
 * for some terminals), the line/paragraph separators and the bidirectional overrides as they are;
 * they are escaped too (the line stays valid JSON and decodes to the same strings).
 */
const INVISIBLE = /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

function escapeInvisible(json: string): string {
  return json.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The whole command, on injectable streams. Returns the exit code; throws UsageError for bad arguments. */
export async function runListen(argv: string[], io: ListenIo): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'receivers-dir': { type: 'string' }, count: { type: 'string' }, 'allow-shared-dir': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: false,
    strict: true,
  });
  if (values.help) {
    io.stdout.write(`${HELP}\n`);
    return EXIT_OK;
  }
  let count: number | undefined;
  if (values.count !== undefined) {
    if (!/^\d+$/.test(values.count) || Number(values.count) < 1) throw new UsageError(`--count takes a positive number, not "${values.count}"`);
    count = Number(values.count);
  }
  const configured = sharedPathOption('receivers-dir', values['receivers-dir'], io.env);
  const fromConfig = configured !== undefined && !values['receivers-dir'];
  const { dir, source } = resolveReceiversDir(configured, { env: io.env });

  let received = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const onOutputError = (error: NodeJS.ErrnoException) => {
    // A closed pipe (`| head -1`) ends the command quietly.
    if (error.code !== 'EPIPE') io.stderr.write(`anbox-oob listen: cannot write to stdout: ${error.message}\n`);
    finish(error.code === 'EPIPE' ? EXIT_OK : EXIT_FAILURE);
  };
  io.stdout.on('error', onOutputError);
  // Registered before binding: a signal that arrives while the socket is being set up must count.
  const onAbort = () => finish(EXIT_OK);
  if (io.signal?.aborted) finish(EXIT_OK);
  io.signal?.addEventListener('abort', onAbort, { once: true });

  let listener: BroadcastListener;
  try {
    listener = await listenForBroadcasts({
      dir,
      allowSharedDir: values['allow-shared-dir'] ?? false,
      onBroadcast(broadcast) {
        if (count !== undefined && received >= count) return;
        received++;
        const last = count !== undefined && received >= count;
        // One write per line: on pipes and files it reaches the reader at once.
        io.stdout.write(broadcastJsonLine(broadcast), () => {
          if (last) finish(EXIT_OK);
        });
      },
      onError(error) {
        io.stderr.write(`anbox-oob listen: ${error.message}\n`);
      },
    });
  } catch (error) {
    io.stdout.off('error', onOutputError);
    io.signal?.removeEventListener('abort', onAbort);
    io.stderr.write(`anbox-oob listen: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  for (const warning of listener.directoryWarnings) io.stderr.write(`anbox-oob listen: warning: ${warning}\n`);
  io.stderr.write(`anbox-oob listen: receiving broadcasts at ${listener.path} (receivers dir from ${fromConfig ? 'the config file' : source === 'flag' ? '--receivers-dir' : source === 'env' ? RECEIVERS_DIR_ENV : 'the default'})\n`);
  io.onListening?.(listener.path);

  try {
    return await done;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    await listener.close();
    io.stdout.off('error', onOutputError);
  }
}
