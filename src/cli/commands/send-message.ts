import { parseArgs } from 'node:util';
import { DataProxyClient } from '../../client/data-proxy-client.js';
import { SERVICE_SOCKET_ENV } from '../../config/paths.js';
import { readAtMost } from '../../io/read-at-most.js';
import { MAX_V1_DATA_BYTES } from '../../v1/v1-message.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { describeClientError } from '../client-errors.js';
import { sharedPathOption } from '../client-paths.js';

export const sendMessageCommand: Command = {
  name: 'send-message',
  summary: 'out-of-band data v1: send {type, data} to the web client\'s messageReceived',
  help: `Usage: anbox-oob send-message <type> <data> [--service-socket PATH]

Out-of-band data v1, what Android's PlatformAPISkeleton.sendMessage(type, data) does: the
connected web client receives {"type": <type>, "data": <data>} on its WebRTC "control" channel,
and the Anbox Streaming SDK calls messageReceived(type, data). <data> "-" reads the data from
stdin (UTF-8, to its end). One way only: Android to the client.

Exit code 0 when the message was sent; 1 with the reason when it was not (sendMessage would
return false): no client connected, type above 256 KiB or data above 1 MiB (UTF-8 bytes), a
type the SDK handles itself (open-camera, show-ime, vhal-..., ...), a message larger than the
client accepts (Chromium: 262144 bytes of JSON), or no platform running.

Example:
  anbox-oob send-message greeting '{"hello":"world"}'
  echo -n 'from stdin' | anbox-oob send-message note -

Options:
  --service-socket PATH   the daemon's socket (env ${SERVICE_SOCKET_ENV}; else "service-socket" in
                          the daemons' config file; default as \`anbox-oob proxy\`)
  -h, --help              show this help`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { 'service-socket': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(this.help);
      return EXIT_OK;
    }
    if (positionals.length !== 2) throw new UsageError('send-message takes a type and data ("-" reads the data from stdin)');
    const [type, dataArg] = positionals as [string, string];
    const data = dataArg === '-' ? await readStdin() : dataArg;
    if (data === undefined) {
      process.stderr.write(`anbox-oob send-message: stdin holds more than ${MAX_V1_DATA_BYTES} bytes, the data limit; not sent\n`);
      return EXIT_FAILURE;
    }
    const client = new DataProxyClient({ servicePath: sharedPathOption('service-socket', values['service-socket']) });
    try {
      const result = await client.sendMessage(type, data);
      if (result.sent) return EXIT_OK;
      process.stderr.write(`anbox-oob send-message: not sent (${result.code}): ${result.reason}\n`);
      return EXIT_FAILURE;
    } catch (error) {
      process.stderr.write(`anbox-oob send-message: ${describeClientError(error)}\n`);
      return EXIT_FAILURE;
    } finally {
      client.close();
    }
  },
};

/** All of stdin as UTF-8, or undefined once it passes the data limit (nothing more is buffered). */
async function readStdin(): Promise<string | undefined> {
  return (await readAtMost(process.stdin, MAX_V1_DATA_BYTES))?.toString('utf8');
}
