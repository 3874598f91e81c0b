import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { DAEMON_OPTIONS, DAEMON_OPTIONS_HELP, daemonSettings } from '../daemon-options.js';
import { runDataProxyDaemon } from '../run-daemon.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the emulator (today: the data-proxy daemon) on its defaults; what `npm start` runs',
  help: `Usage: anbox-oob serve [options]

Runs the emulator with working defaults. Today that is the data-proxy daemon
(see \`anbox-oob proxy --help\`); the WebRTC platform and channel broadcasts join it as they land.
Try it: in another terminal, \`socat UNIX-LISTEN:<socket-dir>/webrtc_data_foo,fork -\` stands in for
a browser's data channel "foo", and \`anbox-oob connect foo\` talks to it through the daemon.

${DAEMON_OPTIONS_HELP}`,
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: DAEMON_OPTIONS, strict: true, allowPositionals: false });
    if (values.help) {
      console.log(this.help);
      return 0;
    }
    return runDataProxyDaemon(daemonSettings(values), 'serve');
  },
};
