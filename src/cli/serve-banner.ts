/**
 * The block `serve` prints on stderr once it is ready: the page, the token, where the sockets are and
 * the next command as it works from where the user is. Printed once; the log lines do not repeat the
 * URL or the token (JSON log lines still carry them as fields, for scripts).
 *
 *   anbox-oob serve is ready.
 *     page            http://127.0.0.1:8777/?token=…
 *     token           … (generated at start)
 *     …
 */
export interface BannerFacts {
  pageUrl: string;
  token: string;
  tokenSource: string;
  socketDir: string;
  servicePath: string;
  configFile: string | null;
  /** How to run the CLI from the user's directory (cli-invocation.ts). */
  cli: string;
  /** The socket of channel "foo", for the socat alternative. */
  example: string;
}

export function serveBanner(f: BannerFacts): string {
  const row = (label: string, value: string) => `  ${label.padEnd(15)} ${value}`;
  return [
    '',
    'anbox-oob serve is ready.',
    row('page', `${f.pageUrl}   (open it in a browser; the token is in it)`),
    row('token', `${f.token} (${f.tokenSource})`),
    row('socket dir', f.socketDir),
    row('service socket', f.servicePath),
    row('config file', f.configFile ?? 'none'),
    row('next', 'open the page, add a channel "foo" and press Connect; then, in another terminal:'),
    row('', `${f.cli} connect foo`),
    row('', `(or \`socat - UNIX-CONNECT:${f.example}\`; \`${f.cli} listen\` and \`${f.cli} status\` show broadcasts and state)`),
    '  Ctrl-C stops. The log follows.',
    '',
    '',
  ].join('\n');
}
