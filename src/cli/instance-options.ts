import { hostname } from 'node:os';
import { MAX_HEARTBEAT_INTERVAL_MS, MAX_LABEL_CHARS, MAX_LABELS, MIN_HEARTBEAT_INTERVAL_MS } from '../farm/farm-messages.js';
import type { NatsSettings } from '../farm/nats-connection.js';
import { defaultInstanceName, INSTANCE_NAME } from '../farm/subjects.js';
import { DEFAULT_HEARTBEAT_MS } from '../farm/instance/instance-agent.js';
import { UsageError } from './command.js';
import { NATS_HELP, NATS_OPTIONS, natsSettings, type NatsOptionValues } from './nats-options.js';

/** `--label K=V` options (serve's, and the client's placement request) as an object; usage errors say why not. */
export function parseLabelOptions(texts: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const text of texts) {
    const at = text.indexOf('=');
    const key = at > 0 ? text.slice(0, at) : '';
    const value = at > 0 ? text.slice(at + 1) : '';
    if (key === '' || key.length > MAX_LABEL_CHARS || value.length > MAX_LABEL_CHARS) {
      throw new UsageError(`--label takes KEY=VALUE (each at most ${MAX_LABEL_CHARS} characters, the key not empty), not ${JSON.stringify(text)}`);
    }
    if (Object.hasOwn(labels, key)) throw new UsageError(`--label ${key} is given twice`);
    labels[key] = value;
  }
  if (Object.keys(labels).length > MAX_LABELS) throw new UsageError(`at most ${MAX_LABELS} --label options`);
  return labels;
}

/** `serve --nats`: the instance joins a farm (docs/farm.md). */
export const INSTANCE_OPTIONS = {
  ...NATS_OPTIONS,
  'instance-name': { type: 'string' },
  label: { type: 'string', multiple: true },
  'heartbeat-ms': { type: 'string' },
} as const;

export const INSTANCE_HELP = `The farm (docs/farm.md): with --nats this instance also takes sessions from an
\`anbox-oob gateway\`; everything above keeps working locally, with or without nats-server.
  --instance-name N       the instance's name in the farm: 1-64 of A-Z a-z 0-9 _ - (default: the
                          host name, other characters as _); a live namesake stops the start
  --label K=V             a label the gateway can place sessions by (repeatable, at most ${MAX_LABELS})
  --heartbeat-ms MS       how often the instance announces itself (default ${DEFAULT_HEARTBEAT_MS};
                          ${MIN_HEARTBEAT_INTERVAL_MS}-${MAX_HEARTBEAT_INTERVAL_MS}); the gateway drops it after 3 silent intervals
${NATS_HELP}`;

export type InstanceOptionValues = NatsOptionValues & { 'instance-name'?: string; label?: string[]; 'heartbeat-ms'?: string };

export interface InstanceSettings {
  nats: NatsSettings;
  name: string;
  labels: Record<string, string>;
  intervalMs: number;
}

/** The farm settings, or undefined without --nats (then --instance-name and friends are errors). */
export function instanceSettings(values: InstanceOptionValues, env: NodeJS.ProcessEnv = process.env, host = hostname()): InstanceSettings | undefined {
  const nats = natsSettings(values, env);
  if (nats === undefined) {
    const stray = (['instance-name', 'label', 'heartbeat-ms'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --nats URL`);
    return undefined;
  }
  const name = values['instance-name'] ?? defaultInstanceName(host);
  if (!INSTANCE_NAME.test(name)) throw new UsageError(`--instance-name takes 1-64 of A-Z a-z 0-9 _ - (a NATS subject token), not ${JSON.stringify(name)}`);
  const labels = parseLabelOptions(values.label ?? []);
  const intervalText = values['heartbeat-ms'];
  const intervalMs = intervalText === undefined ? DEFAULT_HEARTBEAT_MS : Number(String(intervalText).trim());
  if (!Number.isInteger(intervalMs) || intervalMs < MIN_HEARTBEAT_INTERVAL_MS || intervalMs > MAX_HEARTBEAT_INTERVAL_MS) {
    throw new UsageError(`--heartbeat-ms takes a whole number from ${MIN_HEARTBEAT_INTERVAL_MS} to ${MAX_HEARTBEAT_INTERVAL_MS}, not "${intervalText}"`);
  }
  return { nats, name, labels, intervalMs };
}
