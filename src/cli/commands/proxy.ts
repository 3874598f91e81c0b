import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { DAEMON_OPTIONS, DAEMON_OPTIONS_HELP, daemonSettings } from '../daemon-options.js';
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
    const { values } = parseArgs({ args: argv, options: DAEMON_OPTIONS, strict: true, allowPositionals: false });
    if (values.help) {
      console.log(this.help);
      return 0;
    }
    return runDataProxyDaemon(daemonSettings(values), 'proxy');
  },
};
