import { parseArgs } from 'node:util';
import { DEFAULT_GATEWAY_LISTEN, FarmGateway } from '../../farm/gateway/farm-gateway.js';
import { redactNatsUrl } from '../../farm/nats-connection.js';
import { createLogger, isLogLevel, LOG_LEVELS } from '../../log/logger.js';
import { TOKEN_ENV } from '../../platform/auth.js';
import { MIN_TOKEN_LENGTH } from '../../platform/gateway-limits.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { checkTurnUrl, parseListen, readTokenFile } from '../daemon-options.js';
import { NATS_HELP, NATS_OPTIONS, natsSettings } from '../nats-options.js';

const OPTIONS = {
  ...NATS_OPTIONS,
  listen: { type: 'string' },
  'token-file': { type: 'string' },
  token: { type: 'string' },
  stun: { type: 'string', multiple: true },
  turn: { type: 'string', multiple: true },
  'allow-origin': { type: 'string', multiple: true },
  'max-connections': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP = `Usage: anbox-oob gateway --nats URL [options]

The farm's Stream Gateway (docs/farm.md): one HTTP address for many emulated instances. Each
instance is an \`anbox-oob serve --nats URL\` on its device host; the gateway learns them from
their heartbeats over NATS. It answers the Stream Gateway subset the Anbox Streaming SDK uses,
exactly as \`serve\` does:
  - POST /1.0/sessions/ places the session on a free instance; the body may ask for one:
    {"instance": NAME} | {"device": SERIAL} | {"labels": {"K": "V"}} (all must match).
    No match: 404 naming what was asked; all busy: 503 "no free instance: N of M busy" with
    Retry-After: 5; no instance at all, or NATS down: 503.
  - POST /1.0/sessions/<id>/join, and the signaling WebSocket, relayed to the session's instance
    over NATS (WebRTC itself flows directly between the browser and the instance host);
  - GET /1.0/instances (with the token): the instances, their state, device, channels and session;
  - the demo page at /, as \`serve\`.
Every request but the page needs "Authorization: Macaroon root=<token>". Prints the gateway URL and
the token once ready; it listens even while nats-server is not reachable (POST /1.0/sessions/
answers 503 "NATS not connected" with Retry-After, GET /1.0/instances an empty list with
"nats": "disconnected") and connects once nats-server is up. Stops cleanly on SIGTERM or
SIGINT (Ctrl-C): signaling WebSockets close with 1001; the instances keep running.

Options:
  --listen HOST:PORT      where to listen (default ${DEFAULT_GATEWAY_LISTEN.host}:${DEFAULT_GATEWAY_LISTEN.port})
  --token-file FILE       the token (its first line; ${MIN_TOKEN_LENGTH}+ characters); or env ${TOKEN_ENV};
  --token TOKEN             or --token (visible to every local user in ps). Default: generated, printed
  --stun URL              a STUN/TURN server for browsers (repeatable; stun:H:P, turn:USER:PASS@H:P);
                          replaces the instance's own in metadata.stun_servers
  --turn URL              a TURN server (relay) for browsers (repeatable), for peers that cannot reach
                          the instance hosts directly: turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp]
                          or turns:…; in metadata.stun_servers as {urls, username, password} like --stun's
  --allow-origin ORIGIN   CORS: only pages from this origin may call the gateway (repeatable; default any)
  --max-connections N     HTTP + WebSocket connections held at once (default 256)
  --log-level LEVEL       ${LOG_LEVELS.join(', ')} (default info); logs are JSON lines on stdout
  -h, --help              show this help

${NATS_HELP}

Example (one host):  nats-server -a 127.0.0.1 &  anbox-oob gateway --nats nats://127.0.0.1:4222 &
                     anbox-oob serve --nats nats://127.0.0.1:4222 --instance-name lab-1
Exit status: 0 after a clean stop, 1 when it cannot start, 2 on usage errors.`;

export const gatewayCommand: Command = {
  name: 'gateway',
  summary: "the farm's Stream Gateway: places sessions on `serve --nats` instances over NATS",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
    if (values.help) {
      console.log(HELP);
      return EXIT_OK;
    }
    if (positionals.length > 0) throw new UsageError(`gateway takes no arguments (got "${positionals[0]}")`);
    const nats = natsSettings(values, process.env);
    if (nats === undefined) throw new UsageError('--nats URL is required (where nats-server runs, e.g. nats://127.0.0.1:4222)');
    const stunUrls = [...(values.stun ?? []), ...(values.turn ?? []).map((url) => checkTurnUrl(url))];
    const listen = values.listen === undefined ? { ...DEFAULT_GATEWAY_LISTEN } : parseListen(values.listen);
    const warnings: { event: string; message: string }[] = [];
    const token = gatewayToken(values.token, values['token-file'], process.env, warnings);
    const level = values['log-level'] ?? 'info';
    if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
    let maxConnections: number | undefined;
    if (values['max-connections'] !== undefined) {
      maxConnections = Number(values['max-connections']);
      if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new UsageError(`--max-connections takes a positive integer, not "${values['max-connections']}"`);
    }
    const log = createLogger({ level, name: 'anbox-oob-gateway' });
    for (const warning of warnings) log.warn({ event: warning.event }, warning.message);
    let stopRequested = false;
    let wake: (() => void) | undefined;
    const onSignal = () => {
      if (stopRequested) process.exit(EXIT_FAILURE);
      stopRequested = true;
      wake?.();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      let gateway: FarmGateway;
      try {
        gateway = await FarmGateway.start({ nats, log, listen, token: token?.value, stunUrls, allowOrigins: values['allow-origin'], maxConnections });
      } catch (error) {
        log.fatal({ event: 'farm.gateway.start_failed', err: error }, error instanceof Error ? error.message : String(error));
        return EXIT_FAILURE;
      }
      const source = token === undefined ? 'generated at start' : `from ${token.source}`;
      process.stderr.write(
        [
          '',
          'anbox-oob gateway is ready.',
          `  gateway URL     ${gateway.url}   (the SDK's gateway; POST /1.0/sessions/)`,
          `  token           ${gateway.token} (${source})`,
          `  page            ${gateway.pageUrl}`,
          `  NATS            ${gateway.natsConnected ? `connected to ${redactNatsUrl(nats.url)}` : `${redactNatsUrl(nats.url)} not reachable yet: sessions get 503 until it is (retrying every second)`}`,
          `  instances       GET ${gateway.url}/1.0/instances, or anbox-oob status --nats ${redactNatsUrl(nats.url)}`,
          '  Ctrl-C stops. The log follows.',
          '',
          '',
        ].join('\n'),
      );
      log.info({ event: 'farm.gateway.ready', url: gateway.url, token: gateway.token, tokenSource: token === undefined ? 'generated' : token.source }, `farm gateway ready on ${gateway.url}`);
      if (!stopRequested) await new Promise<void>((resolve) => (wake = resolve));
      await gateway.close();
      return EXIT_OK;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  },
};

/** The given token, if any; reading --token-file as `serve` does (a file others can read is a warning). */
function gatewayToken(flag: string | undefined, file: string | undefined, env: NodeJS.ProcessEnv, warnings: { event: string; message: string }[]): { value: string; source: string } | undefined {
  if (flag !== undefined && file !== undefined) throw new UsageError('give --token or --token-file, not both');
  let token: { value: string; source: string } | undefined;
  if (file !== undefined) token = { value: readTokenFile(file, '--token-file', warnings), source: `--token-file ${file}` };
  else if (flag !== undefined) token = { value: flag, source: '--token' };
  else if (env[TOKEN_ENV]) token = { value: env[TOKEN_ENV], source: TOKEN_ENV };
  if (token !== undefined && (token.value.length < MIN_TOKEN_LENGTH || /\s/.test(token.value))) {
    throw new UsageError(`the token (${token.source}) must be at least ${MIN_TOKEN_LENGTH} characters without whitespace; leave it out to have one generated`);
  }
  return token;
}
