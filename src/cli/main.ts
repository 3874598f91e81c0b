#!/usr/bin/env node
import { callCommand } from './commands/call.js';
import { clientCommand } from './commands/client.js';
import { connectCommand } from './commands/connect.js';
import { gatewayCommand } from './commands/gateway.js';
import { listenCommand } from './commands/listen.js';
import { platformCommand } from './commands/platform.js';
import { proxyCommand } from './commands/proxy.js';
import { sendMessageCommand } from './commands/send-message.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './command.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../config/package-root.js';

const COMMANDS: readonly Command[] = [
  serveCommand,
  platformCommand,
  gatewayCommand,
  proxyCommand,
  connectCommand,
  callCommand,
  clientCommand,
  listenCommand,
  statusCommand,
  sendMessageCommand,
];

const HELP = `Usage: anbox-oob <command> [options]

An emulator of Anbox Cloud's out-of-band data v2 stack: a WebRTC platform that turns a web
page's data channels into Unix sockets, and the binder-compatible org.anbox.webrtc.IDataProxyService
that hands those sockets to apps, with channel broadcasts.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}

Run \`anbox-oob <command> --help\` for a command's options; \`anbox-oob --version\` prints the version. The daemons (serve, platform, proxy)
also read environment variables and a JSON config file (--config, ANBOX_OOB_CONFIG, else
$XDG_CONFIG_HOME/anbox-oob/config.json or ~/.config/anbox-oob/config.json); flags win.
Protocol: docs/protocol.md. Logs: docs/logging.md`;

/** The package's version, from its package.json. */
function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(topic ? topic.help : HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`anbox-oob ${version()} (Node ${process.version})`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`anbox-oob: unknown command "${name}"\n\n${HELP}\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes.
    const code = (error as { code?: unknown }).code;
    if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`anbox-oob ${name}: ${(error as Error).message}\nRun \`anbox-oob ${name} --help\` for usage.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`anbox-oob ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}

const exitCode = await main(process.argv.slice(2));
// Let stdout drain before leaving; daemons return only after their sockets are closed.
process.exitCode = exitCode;
if (exitCode !== EXIT_OK) setTimeout(() => process.exit(exitCode), 50).unref();
