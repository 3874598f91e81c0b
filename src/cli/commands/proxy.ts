import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { applyConfigFile } from '../daemon-config.js';
import { DAEMON_OPTIONS, DAEMON_OPTIONS_HELP, daemonSettings, OPTION_ENV, SERVE_OPTIONS } from '../daemon-options.js';
import { runDataProxyDaemon } from '../run-daemon.js';

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'run the data-proxy daemon (org.anbox.webrtc.IDataProxyService) alone',
  help: `Usage: anbox-oob proxy [options]

Serves org.anbox.webrtc.IDataProxyService and a service manager on a Unix socket. connect(name)
connects <socket-dir>/webrtc_data_<name> and hands the connected socket to the caller as a
descriptor (SCM_RIGHTS), or, in stream mode, turns the IPC connection into the channel.
Stops cleanly on SIGTERM or SIGINT (Ctrl-C) and removes its socket.

${DAEMON_OPTIONS_HELP}

Protocol: docs/protocol.md`,
  async run(argv) {
    const { values: flags } = parseArgs({ args: argv, options: DAEMON_OPTIONS, strict: true, allowPositionals: false });
    if (flags.help) {
      console.log(this.help);
      return 0;
    }
    const input = applyConfigFile(flags, DAEMON_OPTIONS, OPTION_ENV, process.env, SERVE_OPTIONS);
    return runDataProxyDaemon(daemonSettings(input.values, input), 'proxy');
  },
};
