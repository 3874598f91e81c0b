/** Where the platform's HTTP server listens. Kept apart from platform.ts so the CLI can read the default without loading node-datachannel. */
export interface ListenAddress {
  host: string;
  /** 0 = any free port. */
  port: number;
}

/** Loopback, on a port nothing common uses: works out of the box and is reachable only locally. */
export const DEFAULT_LISTEN: Readonly<ListenAddress> = { host: '127.0.0.1', port: 8777 };
