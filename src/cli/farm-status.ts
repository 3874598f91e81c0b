import type { Writable } from 'node:stream';
import { decodeInstanceStatus, encodeFarmMessage } from '../farm/farm-messages.js';
import { InstanceRegistry, type InstanceView } from '../farm/gateway/instance-registry.js';
import { connectNats, redactNatsUrl, type NatsSettings } from '../farm/nats-connection.js';
import { DISCOVER_SUBJECT, HEARTBEAT_SUBJECT } from '../farm/subjects.js';
import { createLogger } from '../log/logger.js';
import { EXIT_FAILURE, EXIT_OK } from './command.js';

/** How long `status --nats` listens for the instances' answers to `discover` (they answer at once). */
export const FARM_STATUS_LISTEN_MS = 1000;
/** Giving up on reaching nats-server. */
const CONNECT_TIMEOUT_MS = 5000;

/**
 * `anbox-oob status --nats URL`: asks every instance to announce itself (discover) and prints
 * what the heartbeats say. Talks to NATS, not to a gateway: it works with no gateway running.
 */
export async function runFarmStatus(settings: NatsSettings, json: boolean, io: { stdout: Writable; stderr: Writable }): Promise<number> {
  const log = createLogger({ level: 'warn', fd: 2, name: 'anbox-oob-status' });
  const url = redactNatsUrl(settings.url);
  const connecting = connectNats(settings, 'anbox-oob status', log, () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), CONNECT_TIMEOUT_MS)));
  const nc = await Promise.race([connecting, timeout]);
  clearTimeout(timer);
  if (nc === undefined) {
    io.stderr.write(`anbox-oob status: cannot reach NATS at ${url} within ${CONNECT_TIMEOUT_MS / 1000} s\n`);
    // The pending connection keeps retrying; close it when it lands, and leave now.
    void connecting.then((late) => late.close()).catch(() => undefined);
    return EXIT_FAILURE;
  }
  const registry = new InstanceRegistry(() => Date.now());
  nc.subscribe(HEARTBEAT_SUBJECT, {
    callback: (error, msg) => {
      if (error) return;
      try {
        registry.heartbeat(decodeInstanceStatus(msg.data));
      } catch {
        // Not an instance's heartbeat: not ours to list.
      }
    },
  });
  nc.publish(DISCOVER_SUBJECT, encodeFarmMessage({ v: 1 }));
  await new Promise((resolve) => setTimeout(resolve, FARM_STATUS_LISTEN_MS));
  await nc.close();
  const instances = registry.list();
  io.stdout.write(json ? `${JSON.stringify({ nats: url, instances }, null, 2)}\n` : formatInstances(url, instances));
  return EXIT_OK;
}

export function formatInstances(url: string, instances: InstanceView[]): string {
  if (instances.length === 0) return `no instance answered on ${url} (start \`anbox-oob serve --nats ${url}\` on the device hosts)\n`;
  const rows = instances.map((i) => [i.name, i.state, i.device ?? '-', i.channels.length === 0 ? '-' : i.channels.join(','), i.session ?? '-', `${(i.lastHeardMsAgo / 1000).toFixed(1)} s ago`]);
  const header = ['NAME', 'STATE', 'DEVICE', 'CHANNELS', 'SESSION', 'LAST HEARD'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return `${instances.length} instance${instances.length === 1 ? '' : 's'} on ${url}\n${[header, ...rows].map(line).join('\n')}\n`;
}
