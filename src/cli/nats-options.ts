import { readFileSync } from 'node:fs';
import { natsConnectionOptions, NatsSettingsError, type NatsSettings } from '../farm/nats-connection.js';
import { UsageError } from './command.js';

/** The NATS password, when not in a file: never on the command line (every uid sees argv in ps). */
export const NATS_PASSWORD_ENV = 'ANBOX_OOB_NATS_PASSWORD';

/** parseArgs options shared by `gateway --nats`, `serve --nats` and `status --nats`. */
export const NATS_OPTIONS = {
  nats: { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-password-file': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-tls-ca': { type: 'string' },
  'nats-tls-cert': { type: 'string' },
  'nats-tls-key': { type: 'string' },
} as const;

export const NATS_HELP = `NATS (the farm's messaging; docs/farm.md):
  --nats URL              nats://HOST:PORT, or tls://HOST:PORT for TLS (default port 4222)
  --nats-user USER        user/password authentication; the password comes from
  --nats-password-file F    F (its first line; keep it mode 0600) or env ${NATS_PASSWORD_ENV}
  --nats-creds FILE       a NATS credentials file (JWT + nkey seed, made by nsc) instead
  --nats-tls-ca FILE      the CA that signed nats-server's certificate (implies TLS)
  --nats-tls-cert FILE    a client certificate, when nats-server verifies clients (with --nats-tls-key)
  --nats-tls-key FILE`;

export interface NatsOptionValues {
  nats?: string;
  'nats-user'?: string;
  'nats-password-file'?: string;
  'nats-creds'?: string;
  'nats-tls-ca'?: string;
  'nats-tls-cert'?: string;
  'nats-tls-key'?: string;
}

/**
 * The NATS settings, or undefined without --nats (then every other --nats-* option is an error:
 * it would be silently ignored). Checks everything that can be checked before connecting.
 */
export function natsSettings(values: NatsOptionValues, env: NodeJS.ProcessEnv): NatsSettings | undefined {
  const url = values.nats;
  const companions = (Object.keys(NATS_OPTIONS) as (keyof NatsOptionValues)[]).filter((k) => k !== 'nats' && values[k] !== undefined);
  if (url === undefined) {
    if (companions.length > 0) throw new UsageError(`--${companions[0]} needs --nats URL`);
    return undefined;
  }
  if (values['nats-creds'] !== undefined && values['nats-user'] !== undefined) throw new UsageError('give --nats-creds or --nats-user, not both');
  if ((values['nats-tls-cert'] === undefined) !== (values['nats-tls-key'] === undefined)) throw new UsageError('--nats-tls-cert and --nats-tls-key go together');
  let password: string | undefined;
  if (values['nats-password-file'] !== undefined) {
    if (values['nats-user'] === undefined) throw new UsageError('--nats-password-file needs --nats-user');
    try {
      password = readFileSync(values['nats-password-file'], 'utf8').split('\n')[0]!.trim();
    } catch (error) {
      throw new UsageError(`--nats-password-file ${values['nats-password-file']}: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else if (values['nats-user'] !== undefined) {
    password = env[NATS_PASSWORD_ENV];
    if (password === undefined) throw new UsageError(`--nats-user needs a password: --nats-password-file FILE or env ${NATS_PASSWORD_ENV}`);
  }
  const tlsGiven = values['nats-tls-ca'] !== undefined || values['nats-tls-cert'] !== undefined;
  const settings: NatsSettings = {
    url,
    credsFile: values['nats-creds'],
    user: values['nats-user'],
    password,
    tls: tlsGiven ? { caFile: values['nats-tls-ca'], certFile: values['nats-tls-cert'], keyFile: values['nats-tls-key'] } : undefined,
  };
  try {
    natsConnectionOptions(settings, 'check');
  } catch (error) {
    if (error instanceof NatsSettingsError) throw new UsageError(error.message);
    throw error;
  }
  return settings;
}
