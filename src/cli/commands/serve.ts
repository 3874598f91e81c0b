import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { applyConfigFile } from '../daemon-config.js';
import { daemonSettings, platformSettings, SERVE_OPTIONS, SERVE_OPTIONS_HELP, OPTION_ENV } from '../daemon-options.js';
import { instanceSettings } from '../instance-options.js';
import { runServe } from '../run-daemon.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the whole emulator: the WebRTC platform and the data-proxy daemon; what `npm start` runs',
  help: `Usage: anbox-oob serve [options]

Runs the emulator with working defaults, in one process sharing one socket directory:
  - the WebRTC platform (see \`anbox-oob platform --help\`): the gateway, the signaling WebSocket and
    the demo page; each data channel a client opens becomes <socket-dir>/webrtc_data_<name>;
  - the data-proxy daemon (see \`anbox-oob proxy --help\`): org.anbox.webrtc.IDataProxyService on
    the service socket, handing channel sockets to apps.
Prints the page URL, the token, the socket directory and the service socket.
Try it: open the page, add a channel "foo" and connect; then \`anbox-oob connect foo\` in another
terminal talks to the page through the daemon, as an Android app would.
Stops cleanly on SIGTERM or SIGINT (Ctrl-C) and removes its sockets.
With --nats URL it also joins a farm (docs/farm.md): heartbeats to an \`anbox-oob gateway\`, which
places sessions here and relays their signaling over NATS; WebRTC still flows directly.

${SERVE_OPTIONS_HELP}`,
  async run(argv) {
    const { values: flags } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true, allowPositionals: false });
    if (flags.help) {
      console.log(this.help);
      return 0;
    }
    const input = applyConfigFile(flags, SERVE_OPTIONS, OPTION_ENV);
    const platform = platformSettings(input.values, process.env, input);
    const farm = instanceSettings(input.values, process.env);
    return runServe(daemonSettings(input.values, input), platform, farm);
  },
};
