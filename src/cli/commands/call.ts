import { readlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DataProxyClient } from '../../client/data-proxy-client.js';
import { SERVICE_SOCKET_ENV } from '../../config/paths.js';
import * as native from '../../native/addon.js';
import { BUILTIN_TRANSACTION_NAMES, INTERFACE_TRANSACTION } from '../../parcel/constants.js';
import { isBuiltinTransaction, type InterfaceTokenLayout } from '../../parcel/index.js';
import { ParcelWriter } from '../../parcel/parcel-writer.js';
import { Status, statusName } from '../../parcel/status.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { describeClientError } from '../client-errors.js';
import { formatParcel } from '../parcel-format.js';
import { sharedPathOption } from '../client-paths.js';

const LAYOUTS: readonly InterfaceTokenLayout[] = ['api28', 'api29', 'api30'];

export const callCommand: Command = {
  name: 'call',
  summary: 'send one binder transaction, like `service call`, and print the reply Parcel',
  help: `Usage: anbox-oob call <service> <code> [ARG ...] [options]

Like Android's \`service call\`: for a service's own codes it first asks the service for its
interface descriptor (INTERFACE_TRANSACTION), writes the interface token, then the arguments.
Prints the reply status, the reply Parcel as hex and ASCII, a decoding of it, and any
descriptors that came with it. Exit code 1 when the status is not OK.

  <service>   a service name: org.anbox.webrtc.IDataProxyService, or manager (the service manager)
  <code>      a number (1, 0x1) or a built-in code: _NTF (interface), _PNG (ping), _DMP, _CMD
  ARG         i32 N | i64 N | s16 STRING | null (a null String16)

Options:
  --token-layout L        api28 | api29 | api30 (default api30): the interface-token layout to write
  --token DESCRIPTOR      write this interface token instead of asking the service for it
  --no-token              write no interface token at all
  --service-socket PATH   the daemon's socket (env ${SERVICE_SOCKET_ENV}; else "service-socket" in
                          the daemons' config file; default as \`anbox-oob proxy\`)
  -h, --help              show this help

Examples:
  anbox-oob call org.anbox.webrtc.IDataProxyService 1 s16 foo     connect to channel foo
  anbox-oob call org.anbox.webrtc.IDataProxyService _NTF          the interface descriptor
  anbox-oob call manager 4 i32 15                                 list services`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        'token-layout': { type: 'string' },
        token: { type: 'string' },
        'no-token': { type: 'boolean' },
        'service-socket': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(this.help);
      return EXIT_OK;
    }
    if (positionals.length < 2) throw new UsageError('call needs a service and a code');
    const [service, codeText, ...args] = positionals as [string, string, ...string[]];
    const code = parseCode(codeText);
    const layout = (values['token-layout'] ?? 'api30') as InterfaceTokenLayout;
    if (!LAYOUTS.includes(layout)) throw new UsageError(`--token-layout must be one of ${LAYOUTS.join(', ')}`);
    // Arguments are checked before anything is sent.
    const argumentBytes = writeArguments(new ParcelWriter(), args).toBuffer();
    const client = new DataProxyClient({ servicePath: sharedPathOption('service-socket', values['service-socket']) });
    try {
      const data = new ParcelWriter();
      if (!isBuiltinTransaction(code) && !values['no-token']) {
        const descriptor = values.token ?? (await client.interfaceDescriptor(service));
        data.writeInterfaceToken(descriptor, layout, { strictModePolicy: 0 });
      }
      data.writeBytes(argumentBytes);
      const reply = await client.transact(service, code, data.toBuffer());
      const lines = [`status: ${statusName(reply.status)} (${reply.status})${reply.errorCode ? ` ${reply.errorCode}` : ''}`];
      if (reply.message) lines.push(`message: ${reply.message}`);
      lines.push(...formatParcel(reply.data, reply.objectOffsets, code === INTERFACE_TRANSACTION));
      for (const [index, fd] of reply.fds.entries()) {
        lines.push(`descriptor #${index}: received as fd ${fd} (${describeFd(fd)}), closed`);
        native.close(fd);
      }
      process.stdout.write(lines.join('\n') + '\n');
      return reply.status === Status.OK ? EXIT_OK : EXIT_FAILURE;
    } catch (error) {
      process.stderr.write(`anbox-oob call: ${describeClientError(error)}\n`);
      return EXIT_FAILURE;
    } finally {
      client.close();
    }
  },
};

function parseCode(text: string): number {
  const builtin = BUILTIN_TRANSACTION_NAMES.get(text);
  if (builtin !== undefined) return builtin;
  if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) throw new UsageError(`"${text}" is not a transaction code (a number, 0x..., _NTF, _PNG, _DMP or _CMD)`);
  const code = Number(text);
  if (code > 0xffffffff) throw new UsageError(`transaction code ${text} does not fit 32 bits`);
  return code;
}

function writeArguments(data: ParcelWriter, args: string[]): ParcelWriter {
  for (let i = 0; i < args.length; i++) {
    const type = args[i]!;
    if (type === 'null') {
      data.writeString16(null);
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new UsageError(`argument type ${type} needs a value`);
    switch (type) {
      case 'i32':
        if (!/^-?\d+$/.test(value) || Number(value) < -2147483648 || Number(value) > 4294967295) throw new UsageError(`i32 ${value} is not a 32-bit integer`);
        data.writeInt32(Number(value) | 0);
        break;
      case 'i64':
        if (!/^-?\d+$/.test(value)) throw new UsageError(`i64 ${value} is not an integer`);
        data.writeInt64(BigInt.asIntN(64, BigInt(value)));
        break;
      case 's16':
        data.writeString16(value);
        break;
      default:
        throw new UsageError(`unknown argument type "${type}"; use i32, i64, s16 or null`);
    }
  }
  return data;
}

function describeFd(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return 'unknown';
  }
}
