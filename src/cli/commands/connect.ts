import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { parseArgs } from 'node:util';
import { CONTROL_CHANNEL } from '../../channels/channel-name.js';
import { DataProxyClient } from '../../client/data-proxy-client.js';
import { resolveServicePath, SERVICE_SOCKET_ENV } from '../../config/paths.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { describeClientError } from '../client-errors.js';
import { sharedPathOption } from '../client-paths.js';
import { explainChannelEnd } from '../channel-end.js';

/** After stdin ends, how long to wait for the channel's last bytes (socat's -t default). */
const HALF_CLOSE_GRACE_MS = 500;

export const connectCommand: Command = {
  name: 'connect',
  summary: 'talk to a data channel through the daemon: stdin to the channel, the channel to stdout',
  help: `Usage: anbox-oob connect <channel> [--stream] [--quiet] [--service-socket PATH]
       anbox-oob connect <channel> [--service-socket PATH] --exec CMD [ARGS...]

Asks the data-proxy daemon for channel <channel> and pipes stdin to it and it to stdout, like
\`socat - UNIX-CONNECT:<socket-dir>/webrtc_data_<channel>\` but through the service, the way an
Android app gets it. Exits when either side closes; exit code 1 with the daemon's reason when
the connect is refused (unknown channel, bad name, permission).

stdout is the channel's data only. stderr gets one line when connected, and one when the channel
ends the connection, saying why: the page closed the channel (or its session ended), a newer
connection to the channel replaced this one, or the daemon stopped.

With --exec, CMD runs with the channel socket as its descriptor 3, the way systemd hands a
socket-activated service (Accept=yes) its connection: LISTEN_FDS=1, LISTEN_PID=<CMD's pid> and
LISTEN_FDNAMES=<channel> are set, so sd_listen_fds() returns 1 and sd_is_socket_unix(3,
SOCK_STREAM, 0, NULL, 0) is true (a connected stream socket, not a listening one). The
descriptor is blocking; stdin, stdout and stderr are left to CMD; this process only waits and
exits with CMD's status (128+N when a signal N ended it), passing on SIGINT, SIGTERM and SIGHUP.
No Node process is in the data path. Every word after --exec belongs to CMD.

Options:
  --stream                use stream mode: the IPC connection itself carries the channel's bytes
                          (what a device behind \`adb reverse\` uses); default: receive the channel
                          socket as a descriptor, so the daemon is not in the data path
  --service-socket PATH   the daemon's socket (env ${SERVICE_SOCKET_ENV}; else "service-socket" in
                          the daemons' config file; default as \`anbox-oob proxy\`)
  -q, --quiet             no status lines on stderr (errors are still printed)
  --exec CMD [ARGS...]    run CMD with the channel as descriptor 3 (descriptor mode only)
  -h, --help              show this help`,
  async run(argv) {
    const execAt = argv.indexOf('--exec');
    const command = execAt >= 0 ? argv.slice(execAt + 1) : undefined;
    const { values, positionals } = parseArgs({
      args: execAt >= 0 ? argv.slice(0, execAt) : argv,
      options: { stream: { type: 'boolean' }, 'service-socket': { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(this.help);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError('connect takes exactly one channel name');
    const servicePath = sharedPathOption('service-socket', values['service-socket']);
    const channel = positionals[0]!;
    if (channel === CONTROL_CHANNEL) {
      throw new UsageError(
        `"${CONTROL_CHANNEL}" is the Streaming SDK's own channel (session control): the platform never exposes it as a socket, so no app can connect to it; open a data channel with another name on the page`,
      );
    }
    if (command !== undefined) {
      if (command.length === 0) throw new UsageError('--exec needs a command to run');
      if (values.stream) throw new UsageError('--exec hands over the channel descriptor; it cannot be combined with --stream');
      return execWithChannel(channel, command, servicePath);
    }
    const client = new DataProxyClient({ servicePath });
    const notice = (text: string) => {
      if (!values.quiet) process.stderr.write(`anbox-oob connect: ${text}\n`);
    };
    let socket;
    try {
      socket = await client.connect(channel, { stream: values.stream ?? false });
    } catch (error) {
      process.stderr.write(`anbox-oob connect: ${describeClientError(error)}\n`);
      return EXIT_FAILURE;
    } finally {
      client.close();
    }
    notice(`connected to channel "${channel}"${values.stream ? ' (stream mode)' : ''}; stdin goes to it, its data to stdout${process.stdin.isTTY ? ' (Ctrl-D ends input, Ctrl-C quits)' : ''}`);
    let endedByChannel = false;
    let stdinEnded = false;
    const closed = await new Promise<number>((resolve) => {
      let exitCode = EXIT_OK;
      socket.on('error', (error) => {
        process.stderr.write(`anbox-oob connect: channel connection failed: ${error.message}\n`);
        exitCode = EXIT_FAILURE;
      });
      socket.on('close', () => {
        process.stdin.unpipe(socket);
        process.stdin.pause();
        resolve(exitCode);
      });
      socket.pipe(process.stdout, { end: false });
      process.stdin.pipe(socket, { end: false });
      process.stdin.on('end', () => {
        stdinEnded = true;
        socket.end();
        setTimeout(() => socket.destroy(), HALF_CLOSE_GRACE_MS).unref();
      });
      socket.on('end', () => {
        endedByChannel = !stdinEnded;
        socket.destroy();
      });
    });
    if (endedByChannel && !values.quiet) notice(`disconnected: ${await explainChannelEnd(resolveServicePath(servicePath), channel)}`);
    return closed;
  },
};

/**
 * `connect --exec`: the channel descriptor becomes CMD's fd 3, with systemd's socket-activation
 * variables. LISTEN_PID must be CMD's own pid (sd_listen_fds ignores the variables otherwise), which
 * is known only once it runs, so /bin/sh sets it to its own pid ($$) and execs CMD in its place.
 */
async function execWithChannel(channel: string, command: string[], servicePath: string | undefined): Promise<number> {
  const client = new DataProxyClient({ servicePath });
  let fd: number;
  try {
    fd = client.connectFdSync(channel);
  } catch (error) {
    process.stderr.write(`anbox-oob connect: ${describeClientError(error)}\n`);
    return EXIT_FAILURE;
  }
  let child: ChildProcess;
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: channel };
    delete env.LISTEN_PID;
    child = spawn('/bin/sh', ['-c', 'export LISTEN_PID=$$; exec "$@"', 'sh', ...command], { stdio: ['inherit', 'inherit', 'inherit', fd], env });
  } finally {
    // The child has its own copy (or none, when spawn failed): ours would keep the channel open.
    closeSync(fd);
  }
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, forward);
  try {
    return await new Promise<number>((resolve) => {
      child.on('error', (error) => {
        process.stderr.write(`anbox-oob connect: cannot run ${command[0]}: ${error.message}\n`);
        resolve(EXIT_FAILURE);
      });
      child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
    });
  } finally {
    for (const signal of signals) process.off(signal, forward);
  }
}
