import { parseArgs } from 'node:util';
import { DataProxyClient } from '../../client/data-proxy-client.js';
import { SERVICE_SOCKET_ENV } from '../../config/paths.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { describeClientError } from '../client-errors.js';
import { sharedPathOption } from '../client-paths.js';

/** After stdin ends, how long to wait for the channel's last bytes (socat's -t default). */
const HALF_CLOSE_GRACE_MS = 500;

export const connectCommand: Command = {
  name: 'connect',
  summary: 'talk to a data channel through the daemon: stdin to the channel, the channel to stdout',
  help: `Usage: anbox-oob connect <channel> [--stream] [--service-socket PATH]

Asks the data-proxy daemon for channel <channel> and pipes stdin to it and it to stdout, like
\`socat - UNIX-CONNECT:<socket-dir>/webrtc_data_<channel>\` but through the service, the way an
Android app gets it. Exits when either side closes; exit code 1 with the daemon's reason when
the connect is refused (unknown channel, bad name, permission).

Options:
  --stream                use stream mode: the IPC connection itself carries the channel's bytes
                          (what a device behind \`adb reverse\` uses); default: receive the channel
                          socket as a descriptor, so the daemon is not in the data path
  --service-socket PATH   the daemon's socket (env ${SERVICE_SOCKET_ENV}; else "service-socket" in
                          the daemons' config file; default as \`anbox-oob proxy\`)
  -h, --help              show this help`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { stream: { type: 'boolean' }, 'service-socket': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(this.help);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError('connect takes exactly one channel name');
    const client = new DataProxyClient({ servicePath: sharedPathOption('service-socket', values['service-socket']) });
    let socket;
    try {
      socket = await client.connect(positionals[0]!, { stream: values.stream ?? false });
    } catch (error) {
      process.stderr.write(`anbox-oob connect: ${describeClientError(error)}\n`);
      return EXIT_FAILURE;
    } finally {
      client.close();
    }
    return new Promise<number>((resolve) => {
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
        socket.end();
        setTimeout(() => socket.destroy(), HALF_CLOSE_GRACE_MS).unref();
      });
      socket.on('end', () => socket.destroy());
    });
  },
};
