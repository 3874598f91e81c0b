import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { cleanup as cleanupDataChannels, initLogger } from 'node-datachannel';
import { ChannelNameError, CONTROL_CHANNEL, validateChannelName } from '../../channels/channel-name.js';
import { GatewayError, type SessionPlacement } from '../../headless-client/gateway.js';
import { INSTANCE_NAME } from '../../farm/subjects.js';
import { MAX_FIELD_CHARS } from '../../farm/farm-messages.js';
import { parseLabelOptions } from '../instance-options.js';
import { errorMessage } from '../../headless-client/guard.js';
import { Utf8Classifier, type Piece } from '../../headless-client/utf8.js';
import { connectWebClient, MAX_DATA_CHANNELS, type WebClient, type WebClientCloseInfo } from '../../headless-client/web-client.js';
import { createLogger, LOG_LEVELS, type Logger } from '../../log/logger.js';
import { parseIceServer } from '../../platform/ice-servers.js';
import { checkTurnUrl } from '../daemon-options.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, untilSignalled, type Command } from '../command.js';
import { SDK_HANDLED_CONTROL_TYPES } from '../../v1/v1-message.js';

export const TOKEN_ENV = 'ANBOX_OOB_TOKEN';
export const GATEWAY_ENV = 'ANBOX_OOB_GATEWAY';
/** After stdin ends and is flushed, how long to keep receiving (socat's -t default). */
const DEFAULT_LINGER_MS = 500;
const DEFAULT_OPEN_TIMEOUT_MS = 30_000;

const OPTIONS = {
  gateway: { type: 'string' },
  token: { type: 'string' },
  channel: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  binary: { type: 'boolean' },
  'no-stdin': { type: 'boolean' },
  linger: { type: 'string' },
  'api-version': { type: 'string' },
  stun: { type: 'string', multiple: true },
  turn: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  instance: { type: 'string' },
  device: { type: 'string' },
  label: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP = `Usage: anbox-oob client --gateway URL --token TOKEN --channel NAME [--channel NAME ...] [options]

A headless web client for scripts and CI, where no browser exists. It does what a page using the
Anbox Streaming SDK with \`dataChannels\` does: creates a session through the Stream Gateway
(POST /1.0/sessions/), signals over the session's WebSocket (API version 2: the server offers),
and opens the \`control\` channel plus one WebRTC data channel per --channel, on node-datachannel.
Then stdin goes to the first channel and every message from any channel goes to stdout; on the
emulated instance each channel is the socket <socket-dir>/webrtc_data_<name>.

Examples:
  echo hello | anbox-oob client --gateway http://127.0.0.1:8777 --token T --channel foo
  anbox-oob client --gateway http://127.0.0.1:8777 --channel foo --channel bar --json --no-stdin

Options:
  --gateway URL          the Stream Gateway, i.e. the platform's http://HOST:PORT (env ${GATEWAY_ENV});
                         the page's URL as \`serve\` prints it (http://HOST:PORT/?token=…) works too,
                         and gives the token
  --token TOKEN          the gateway token (env ${TOKEN_ENV}); \`anbox-oob platform\` prints it
  --channel NAME         a data channel to open; repeatable, 1 to ${MAX_DATA_CHANNELS} (the SDK's limit), in order.
                         The first one receives stdin. A name is 1-64 characters of A-Z a-z 0-9 . _ -
                         (not "." or ".."), and "${CONTROL_CHANNEL}" is the SDK's own channel
  --json                 one JSON line per received message on stdout:
                         {"channel":NAME,"type":"text"|"binary","data":TEXT or base64 of the bytes};
                         out-of-band data v1 (\`anbox-oob send-message\`) as
                         {"channel":"control","type":"v1","messageType":TYPE,"data":DATA}
                         (without --json such messages are printed on stderr)
                         default: the raw bytes of every message, as they arrive
  --binary               send stdin as binary messages; default: as text messages when the bytes are
                         valid UTF-8 (a character is never split between two messages), else binary
  --no-stdin             do not read stdin: only receive, until the session ends or SIGINT/SIGTERM
  --linger MS            after stdin ends and all of it is sent, keep receiving for MS milliseconds,
                         then disconnect (default ${DEFAULT_LINGER_MS}, like socat -t)
  --stun URL             a STUN server of the client's own, besides the gateway's (repeatable):
                         stun:HOST[:PORT]
  --turn URL             a TURN server of the client's own, besides the gateway's (repeatable), for
                         a client that reaches the instance only through a relay:
                         turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp] or turns:…
  --instance NAME        farm gateway (\`anbox-oob gateway\`, docs/farm.md): place the session on the
                         instance started with --instance-name NAME ("instance" in the POST body)
  --device SERIAL        farm gateway: on the instance whose device is SERIAL ("device")
  --label K=V            farm gateway: on an instance carrying this label (repeatable; all must
                         match; "labels"). A single \`serve\` ignores these three
  --api-version 1|2      signaling API version (default 2, the SDK's default; 1: this client offers)
  --timeout MS           fail when the channels are not all open after MS milliseconds (default ${DEFAULT_OPEN_TIMEOUT_MS});
                         the gateway's session request gets the same bound (its answer at most 1 MiB)
  --log-level LEVEL      diagnostics on stderr: ${LOG_LEVELS.join(' | ')} (default warn;
                         trace adds libdatachannel's own log)
  --log-format FORMAT    json | pretty (default: pretty on a terminal, else JSON lines)
  -q, --quiet            no status lines on stderr (errors are still printed)
  -h, --help             show this help

Unlike the SDK, the client keeps the signaling WebSocket open for the whole session: a farm gateway
closes it with 1011 and a reason naming the instance when that instance stops or vanishes, which
ends the session at once with that reason (exit 1) instead of after ICE's timeout.

stdout is the channels' data only. stderr gets one line when the channels are open (with the ICE
path: each side's candidate type, host, srflx, prflx or relay), one when the
server closes a channel, and one when the session ends, saying why when it can tell (the platform
stopped, or the server ended the session: a newer session, from the page or another client,
replaces this one).

Messages are sent in pieces no larger than the remote's maximum message size (at most 256 KiB),
paced by the channel's buffered amount. Disconnecting is what the SDK's stop() does: the data
channels close after their data, then {"type":"stream::disconnect"} goes on \`control\`.

Exit status:
  0  stdin ended and everything was sent (then the client disconnected), the server ended the
     session, or SIGINT/SIGTERM stopped the client (after a clean disconnect)
  1  the gateway refused the token (401), could not be reached, or answered another error (e.g.
     503 "no free instance: 2 of 2 busy" from a farm gateway: the message carries the status, the
     server's text and its Retry-After; 404 when no instance matches --instance/--device/--label),
     signaling or WebRTC failed, a farm gateway ended the session because its instance stopped,
     vanished or restarted (WebSocket 1011; the message is the gateway's reason, naming the instance),
     or a channel was closed by the server before it opened (e.g. a name the server rejects)
  2  usage error`;

/** Where the command reads and writes; the real process's streams, or test doubles. */
export interface ClientIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Aborting it stops the client as SIGINT/SIGTERM would. */
  signal?: AbortSignal;
  /** A logger to use instead of one on stderr built from --log-level/--log-format. */
  log?: Logger;
}

export const clientCommand: Command = {
  name: 'client',
  summary: 'a headless web client: stdin to a data channel through the platform, messages to stdout',
  help: HELP,
  async run(argv) {
    try {
      return await untilSignalled((signal) =>
        runClient(argv, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal }),
      );
    } finally {
      // Stops libdatachannel's threads so the process can exit.
      setTimeout(() => {
        try {
          cleanupDataChannels();
        } catch {
          // nothing left to clean
        }
      }, 100).unref();
    }
  },
};

/** A --stun/--turn URL the client can use, or a usage error saying why not. */
function checkIceUrl(url: string, option: string): string {
  try {
    return parseIceServer(url).native;
  } catch (error) {
    throw new UsageError(`${option}: ${errorMessage(error)}`);
  }
}

function parseMs(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} takes a number of milliseconds, not "${value}"`);
  return Number(value);
}

/** --instance/--device/--label: the farm placement fields of the session request, checked. */
function placementOptions(instance: string | undefined, device: string | undefined, labelTexts: string[] | undefined): SessionPlacement | undefined {
  if (instance === undefined && device === undefined && labelTexts === undefined) return undefined;
  if (instance !== undefined && !INSTANCE_NAME.test(instance)) throw new UsageError(`--instance takes an instance name (1-64 of A-Z a-z 0-9 _ -), not ${JSON.stringify(instance)}`);
  if (device !== undefined && (device === '' || device.length > MAX_FIELD_CHARS)) throw new UsageError(`--device takes a device serial of 1-${MAX_FIELD_CHARS} characters`);
  return { instance, device, labels: labelTexts === undefined ? undefined : parseLabelOptions(labelTexts) };
}

/** One received message as the --json line. */
export function jsonLine(channel: string, data: string | Buffer): string {
  return (
    JSON.stringify(
      typeof data === 'string' ? { channel, type: 'text', data } : { channel, type: 'binary', data: data.toString('base64') },
    ) + '\n'
  );
}

/** One received out-of-band v1 message as the --json line (the SDK's messageReceived(type, data)). */
export function v1JsonLine(type: string, data: string): string {
  return JSON.stringify({ channel: CONTROL_CHANNEL, type: 'v1', messageType: type, data }) + '\n';
}

function describeConnectError(error: unknown): string {
  if (error instanceof GatewayError && error.kind === 'UNAUTHORIZED') {
    return `wrong token: pass --token or ${TOKEN_ENV} (${error.message})`;
  }
  return errorMessage(error);
}

/** The whole command, on injectable streams. Returns the exit code; throws UsageError for bad arguments. */
export async function runClient(argv: string[], io: ClientIo): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  if (values.help) {
    io.stdout.write(`${HELP}\n`);
    return EXIT_OK;
  }
  const gatewayText = values.gateway ?? io.env[GATEWAY_ENV];
  if (!gatewayText) throw new UsageError(`no gateway: pass --gateway URL (the platform's http://HOST:PORT) or set ${GATEWAY_ENV}`);
  const { gateway, token: tokenInUrl } = parseGatewayUrl(gatewayText);
  const token = values.token ?? io.env[TOKEN_ENV] ?? tokenInUrl;
  if (token === undefined || token === '') throw new UsageError(`no token: pass --token or set ${TOKEN_ENV} (\`anbox-oob platform\` prints it)`);
  const channels = values.channel ?? [];
  if (channels.length === 0) throw new UsageError('name at least one data channel with --channel NAME');
  if (channels.length > MAX_DATA_CHANNELS) throw new UsageError(`at most ${MAX_DATA_CHANNELS} --channel options (the SDK's limit), not ${channels.length}`);
  for (const name of channels) {
    try {
      validateChannelName(name);
    } catch (error) {
      if (error instanceof ChannelNameError) throw new UsageError(`--channel: ${error.message}`);
      throw error;
    }
    if (name === CONTROL_CHANNEL) throw new UsageError(`--channel ${CONTROL_CHANNEL}: that is the SDK's own channel; pick another name`);
  }
  if (new Set(channels).size !== channels.length) throw new UsageError('each --channel name may be given once');
  const apiText = values['api-version'] ?? '2';
  if (apiText !== '1' && apiText !== '2') throw new UsageError(`--api-version must be 1 or 2, not "${apiText}"`);
  const iceServers = [...(values.stun ?? []).map((url) => checkIceUrl(url, '--stun')), ...(values.turn ?? []).map((url) => checkIceUrl(checkTurnUrl(url), '--turn'))];
  const placement = placementOptions(values.instance, values.device, values.label);
  const linger = parseMs(values.linger, '--linger', DEFAULT_LINGER_MS);
  const openTimeoutMs = parseMs(values.timeout, '--timeout', DEFAULT_OPEN_TIMEOUT_MS);
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format must be json or pretty, not "${format}"`);
  const level = values['log-level'] ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const log = io.log ?? createLogger({ level, fd: 2, name: 'anbox-oob-client', pretty: format === undefined ? undefined : format === 'pretty' });
  if (level === 'trace' && !io.log) {
    // libdatachannel's own log, through ours (the callback is required in node-datachannel 0.33).
    initLogger('Debug', (ldcLevel, message) => {
      try {
        log.trace({ libdatachannel: ldcLevel }, message);
      } catch {
        // never throw out of a native callback
      }
    });
  }
  const fail = (message: string) => {
    io.stderr.write(`anbox-oob client: ${message}\n`);
    return EXIT_FAILURE;
  };
  const notice = (message: string) => {
    if (!values.quiet) io.stderr.write(`anbox-oob client: ${message}\n`);
  };

  if (io.signal?.aborted) return EXIT_OK;
  let client: WebClient;
  try {
    client = await connectWebClient({ gateway, token, channels, log, apiVersion: apiText === '1' ? 1 : 2, openTimeoutMs, iceServers, placement, keepSignalingOpen: true });
  } catch (error) {
    return fail(describeConnectError(error));
  }

  // Every message from any channel goes to stdout.
  let outputBroken = false;
  const onOutputError = (error: Error) => {
    if (!outputBroken) log.warn({ error: error.message }, 'stdout closed; disconnecting');
    outputBroken = true;
    void client.close({ flushTimeoutMs: 0 });
  };
  io.stdout.on('error', onOutputError);
  for (const channel of client.channels) {
    channel.on('message', (data) => {
      if (outputBroken) return;
      if (values.json) io.stdout.write(jsonLine(channel.name, data));
      else io.stdout.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    });
  }

  // Out-of-band data v1: control messages the SDK would hand to messageReceived(type, data).
  client.onControlMessage((type, data) => {
    if (outputBroken || SDK_HANDLED_CONTROL_TYPES.includes(type)) return;
    const text = typeof data === 'string' ? data : JSON.stringify(data ?? null);
    if (values.json) io.stdout.write(v1JsonLine(type, text));
    else io.stderr.write(`v1 message received: type ${JSON.stringify(type)}, data ${JSON.stringify(text)}\n`);
  });

  let stopStdin = false;
  const stopReading = () => {
    stopStdin = true;
    if (!values['no-stdin']) {
      io.stdin.pause();
      io.stdin.destroy();
    }
  };
  const signalled = new Promise<void>((resolve) => {
    if (io.signal?.aborted) resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
  });

  try {
    const opened = await Promise.race([
      client.opened.then(
        () => 'open' as const,
        (error: unknown) => error as Error,
      ),
      signalled.then(() => 'signal' as const),
    ]);
    if (opened === 'signal') {
      await client.close({ flushTimeoutMs: 0 });
      return EXIT_OK;
    }
    if (opened instanceof Error) {
      await client.close({ flushTimeoutMs: 0 });
      return fail(`the data channels did not open: ${opened.message}`);
    }
    const path = client.candidatePair();
    log.info({ session: client.session.id, channels, ...(path ? { localCandidate: path.local, remoteCandidate: path.remote, localAddress: path.localAddress, remoteAddress: path.remoteAddress } : {}) }, 'connected');
    notice(`connected: channel${channels.length === 1 ? '' : 's'} ${channels.join(', ')} open (session ${client.session.id}${path ? `; ICE path ${path.local} → ${path.remote}` : ''})${values['no-stdin'] ? '' : `; stdin goes to "${channels[0]}"`}`);
    for (const channel of client.channels) {
      channel.once('close', () => {
        if (!client.isClosed && !stopStdin) notice(`channel "${channel.name}" closed by the server`);
      });
    }

    const target = client.channels[0]!;
    const pump = async (): Promise<'eof'> => {
      const classifier = new Utf8Classifier(values.binary ?? false);
      const sendAll = async (pieces: Piece[]) => {
        for (const piece of pieces) await target.send(piece.kind === 'text' ? piece.text : piece.data);
      };
      for await (const chunk of io.stdin) {
        if (stopStdin) break;
        await sendAll(classifier.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)));
      }
      await sendAll(classifier.end());
      await target.flush();
      return 'eof';
    };
    const outcome = await Promise.race([
      values['no-stdin'] ? new Promise<never>(() => undefined) : pump().catch((error: unknown) => error as Error),
      client.closed,
      signalled.then(() => 'signal' as const),
      allChannelsClosed(client),
    ]);

    if (outcome === 'eof') {
      log.debug({ lingerMs: linger }, 'stdin ended and was sent');
      await Promise.race([new Promise((resolve) => setTimeout(resolve, linger)), client.closed, signalled]);
      await client.close();
      return EXIT_OK;
    }
    stopReading();
    if (outcome === 'channels-closed') {
      await client.close({ flushTimeoutMs: 0 });
      return fail(`the server closed ${channels.length === 1 ? 'the data channel' : 'every data channel'} (${channels.join(', ')})`);
    }
    if (outcome === 'signal') {
      await client.close();
      return EXIT_OK;
    }
    if (outcome instanceof Error) {
      const closedInfo = client.isClosed ? await client.closed : undefined;
      await client.close({ flushTimeoutMs: 0 });
      if (closedInfo) return closedStatus(closedInfo, fail, log);
      return fail(`cannot send stdin to channel "${target.name}": ${outcome.message}`);
    }
    if (outcome.initiator === 'remote') notice(`disconnected: ${await explainSessionEnd(gateway)}`);
    return closedStatus(outcome, fail, log);
  } finally {
    stopReading();
    io.stdout.off('error', onOutputError);
    if (!client.isClosed) await client.close({ flushTimeoutMs: 0 });
    // Make sure everything written so far has reached stdout before returning.
    if (!outputBroken) await new Promise<void>((resolve) => io.stdout.write('', () => resolve()));
  }
}

/**
 * --gateway: the gateway's base URL, or the page's URL as `serve` prints it
 * (`http://HOST:PORT/?token=…`: the token comes with it). A value without a scheme, or with one
 * other than http(s), is a usage error (it used to reach fetch and fail as a request).
 */
export function parseGatewayUrl(text: string): { gateway: string; token: string | undefined } {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new UsageError(`--gateway needs a URL with its scheme, e.g. http://${text.replace(/^\/+/, '')} (the platform's http://HOST:PORT, or the page URL serve prints)`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--gateway: "${text}" is not a URL; give the platform's http://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--gateway must be an http:// or https:// URL, not ${url.protocol}//…`);
  const token = url.searchParams.get('token') ?? undefined;
  // The page (/ or /index.html) is served at the gateway's root; any other path is a gateway prefix.
  const path = url.pathname === '/' || url.pathname.endsWith('/index.html') ? url.pathname.replace(/\/?(index\.html)?$/, '') : url.pathname.replace(/\/+$/, '');
  return { gateway: `${url.origin}${path}`, token: token === '' ? undefined : token };
}

/** Why the server ended the session, as far as the client can tell: is the platform still there? */
async function explainSessionEnd(gateway: string): Promise<string> {
  try {
    await fetch(`${gateway}/`, { method: 'HEAD', signal: AbortSignal.timeout(1_000) });
    return 'the server ended the session (a newer session, from the page or another client, replaces this one)';
  } catch {
    return 'the platform stopped';
  }
}

/**
 * Resolves when every data channel has been closed by the server while the session itself goes
 * on (e.g. names the server rejects). A session the server ends closes its channels first, so
 * wait a moment for that before calling it a channel failure.
 */
function allChannelsClosed(client: WebClient): Promise<'channels-closed'> {
  return new Promise((resolve) => {
    const check = () => {
      if (!client.channels.every((c) => c.state === 'closed')) return;
      setTimeout(() => {
        if (!client.isClosed) resolve('channels-closed');
      }, 500).unref();
    };
    for (const channel of client.channels) channel.once('close', check);
    check();
  });
}

function closedStatus(info: WebClientCloseInfo, fail: (message: string) => number, log: Logger): number {
  if (info.initiator === 'error') return fail(info.reason);
  log.info({ reason: info.reason }, 'session ended');
  return EXIT_OK;
}
