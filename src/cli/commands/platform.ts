import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { applyConfigFile } from '../daemon-config.js';
import { daemonSettings, PLATFORM_COMMAND_OPTIONS, PLATFORM_OPTIONS_HELP, platformSettings, OPTION_ENV, SERVE_OPTIONS } from '../daemon-options.js';
import { runPlatformDaemon } from '../run-daemon.js';

export const platformCommand: Command = {
  name: 'platform',
  summary: 'run the WebRTC platform alone: Stream Gateway, signaling, one socket per data channel',
  help: `Usage: anbox-oob platform [options]

Emulates the Anbox WebRTC platform of one instance. It serves, on one HTTP port:
  - the Stream Gateway subset the Anbox Streaming SDK uses: POST /1.0/sessions/ (201) and
    POST /1.0/sessions/<id>/join (200), authenticated by "Authorization: Macaroon root=<token>",
    with CORS for pages served elsewhere;
  - the signaling WebSocket (API versions 1 and 2) whose URL the gateway hands out;
  - a demo page at / (open the printed URL; it carries the token).
Every data channel the client opens, except "control", becomes a Unix stream socket
<socket-dir>/webrtc_data_<name> (mode 0600 unless --channel-socket-mode) while it is open: what
an app writes to it reaches the client, what the client sends is written to it. One app connection per channel at a time (a new
connection replaces the old one, which gets EOF). At most 5 channels per session; names are
1-64 characters of A-Z a-z 0-9 . _ -. One streaming session at a time, as on Anbox: a new session or
a join ends the previous one (its sockets are removed first).
Prints the page URL and the token at start. Stops cleanly on SIGTERM or SIGINT (Ctrl-C): the session
ends and every channel socket is removed.

${PLATFORM_OPTIONS_HELP}

To also serve the data-proxy service apps use, run \`anbox-oob serve\` instead.`,
  async run(argv) {
    const { values: flags } = parseArgs({ args: argv, options: PLATFORM_COMMAND_OPTIONS, strict: true, allowPositionals: false });
    if (flags.help) {
      console.log(this.help);
      return 0;
    }
    const input = applyConfigFile(flags, PLATFORM_COMMAND_OPTIONS, OPTION_ENV, process.env, SERVE_OPTIONS);
    const platform = platformSettings(input.values, process.env, input);
    return runPlatformDaemon(daemonSettings(input.values, input), platform);
  },
};
