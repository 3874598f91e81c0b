import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Debian's nats-server; the tests fail (never skip) when it is missing (.ci/run installs it). */
export const NATS_SERVER = process.env.ANBOX_OOB_NATS_SERVER ?? 'nats-server';

export interface NatsServerHandle {
  /** nats://HOST:PORT */
  readonly url: string;
  readonly port: number;
  /** Everything it logged so far. */
  readonly log: () => string;
  /** Stops it (SIGTERM, then SIGKILL after 3 s). Idempotent. */
  stop(): Promise<void>;
  /** Stops it and starts a new one on the same port (a "NATS restarted" fault). */
  restart(): Promise<NatsServerHandle>;
}

export interface NatsServerOptions {
  host?: string;
  /** 0: a free port chosen by nats-server. */
  port?: number;
  /** Extra arguments (e.g. --user/--pass, --tls…). */
  args?: string[];
  /** Prefix the command (e.g. ['ip', 'netns', 'exec', NS]). */
  wrap?: string[];
}

const READY = /Listening for client connections on (?:[^\s]*):(\d+)/;

/** Starts a real nats-server and resolves once it accepts clients. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const host = options.host ?? '127.0.0.1';
  const argv = [NATS_SERVER, '-a', host, '-p', String(options.port && options.port > 0 ? options.port : -1), ...(options.args ?? [])];
  const command = [...(options.wrap ?? []), ...argv];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never left running behind a failed start
      reject(new Error(`nats-server did not become ready in 10 s:\n${output}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 1_000_000) output = output.slice(-500_000);
      const match = READY.exec(output);
      if (match && /Server is ready/.test(output)) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${NATS_SERVER} (apt-get install nats-server): ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  return handle(child, host, port, options, () => output);
}

function handle(child: ChildProcess, host: string, port: number, options: NatsServerOptions, log: () => string): NatsServerHandle {
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `nats://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    log,
    stop,
    async restart() {
      await stop();
      return startNatsServer({ ...options, host, port });
    },
  };
}
