import { ADB_REVERSE_DEFAULTS, ADB_REVERSE_RECHECK_ENV, ADB_REVERSE_SOCKET_NAME } from '../broadcast/adb/adb-reverse.js';
import { validateAmBroadcastTarget, type AmBroadcastTarget } from '../broadcast/adb/am-broadcast.js';
import { BATCH_WINDOW_DEFAULT_MS } from '../broadcast/batcher.js';
import { RECEIVERS_DIR_ENV, resolveReceiversDir } from '../broadcast/local/receivers-dir.js';
import { UsageError } from './command.js';

/** parseArgs options of the channel broadcasts (part of the data-proxy daemon). */
export const BROADCAST_OPTIONS = {
  adb: { type: 'boolean' },
  'adb-serial': { type: 'string' },
  'adb-path': { type: 'string' },
  'no-adb-reverse': { type: 'boolean' },
  'broadcast-package': { type: 'string' },
  'broadcast-component': { type: 'string' },
  'receiver-include-background': { type: 'boolean' },
  user: { type: 'string' },
  'broadcast-hook': { type: 'string' },
  'broadcast-hook-arg': { type: 'string', multiple: true },
  'broadcast-window': { type: 'string' },
  'receivers-dir': { type: 'string' },
} as const;

export const BROADCAST_HELP = `Channel broadcasts (com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS, extras event =
created|destroyed and data-channel-names), sent when webrtc_data_* sockets appear or vanish:
  --adb                   deliver them to a device with \`adb shell am broadcast\`, and keep
                          \`adb [-s SERIAL] reverse localabstract:${ADB_REVERSE_SOCKET_NAME}
                          localfilesystem:<service socket>\` in place so that an app on the device
                          reaches the service through a LocalSocket to that abstract name (stream
                          mode): made in the background, re-checked every ${ADB_REVERSE_DEFAULTS.recheckMs / 1000} s (env
                          ${ADB_REVERSE_RECHECK_ENV}), removed on exit, shown by \`anbox-oob status\`
  --no-adb-reverse        with --adb: broadcasts only, no adb reverse
  --adb-serial SERIAL     the device (env ANDROID_SERIAL; default: adb's only device)
  --adb-path PATH         the adb client (default: adb on PATH)
  --broadcast-package PKG     send to this package only (-p): Android 8+ manifest receivers need
  --broadcast-component P/C   an explicit target, this (-n) or --receiver-include-background
  --receiver-include-background   set FLAG_RECEIVER_INCLUDE_BACKGROUND
  --user USER             am's --user (an id, current or all)
  --broadcast-hook CMD    also run CMD [ARGS] <created|destroyed> -- <name>... per broadcast, without
                          a shell ("--" because a name may start with "-"); env ANBOX_OOB_EVENT,
                          ANBOX_OOB_CHANNELS (a,b), ANBOX_OOB_SEQUENCE, ANBOX_OOB_ACTION,
                          ANBOX_OOB_TIMESTAMP; one JSON line on stdin
  --broadcast-hook-arg ARG  a fixed argument for the hook, before the event (repeatable)
  --broadcast-window MS   changes this close together make one broadcast per event (default ${BATCH_WINDOW_DEFAULT_MS})
  --receivers-dir DIR     local receivers: every Unix datagram socket bound here gets each broadcast
                          (env ${RECEIVERS_DIR_ENV}; default receivers/ in the anbox directory);
                          \`anbox-oob listen\` is one`;

export interface BroadcastSettings {
  adb:
    | {
        serial: string | undefined;
        adbPath: string | undefined;
        target: AmBroadcastTarget;
        /** Keep `adb reverse localabstract:anbox-oob-data-proxy localfilesystem:<service socket>` in place (not --no-adb-reverse). */
        reverse: boolean;
        /** How often the reverse is re-checked (ANBOX_OOB_ADB_RECHECK_MS); undefined: the default. */
        reverseRecheckMs: number | undefined;
      }
    | undefined;
  hook: { command: string; args: string[] } | undefined;
  batchWindowMs: number;
  receiversDir: string;
}

export function broadcastSettings(
  values: {
    adb?: boolean;
    'adb-serial'?: string;
    'adb-path'?: string;
    'no-adb-reverse'?: boolean;
    'broadcast-package'?: string;
    'broadcast-component'?: string;
    'receiver-include-background'?: boolean;
    user?: string;
    'broadcast-hook'?: string;
    'broadcast-hook-arg'?: string[];
    'broadcast-window'?: string;
    'receivers-dir'?: string;
  },
  env: NodeJS.ProcessEnv = process.env,
): BroadcastSettings {
  const adbOnly = ['adb-serial', 'adb-path', 'no-adb-reverse', 'broadcast-package', 'broadcast-component', 'receiver-include-background', 'user'] as const;
  const stray = adbOnly.filter((name) => values[name] !== undefined);
  if (!values.adb && stray.length > 0) throw new UsageError(`--${stray[0]} configures the adb hook: add --adb to enable it`);
  let adb: BroadcastSettings['adb'];
  if (values.adb) {
    const target: AmBroadcastTarget = {
      package: values['broadcast-package'],
      component: values['broadcast-component'],
      includeBackground: values['receiver-include-background'],
      user: values.user,
    };
    try {
      validateAmBroadcastTarget(target);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const recheckText = env[ADB_REVERSE_RECHECK_ENV];
    let reverseRecheckMs: number | undefined;
    if (recheckText !== undefined && recheckText !== '') {
      if (!/^\d+$/.test(recheckText) || Number(recheckText) < 50) {
        throw new UsageError(`${ADB_REVERSE_RECHECK_ENV} takes milliseconds (at least 50), not "${recheckText}"`);
      }
      reverseRecheckMs = Number(recheckText);
    }
    adb = { serial: values['adb-serial'], adbPath: values['adb-path'], target, reverse: !values['no-adb-reverse'], reverseRecheckMs };
  }
  if (values['broadcast-hook-arg'] && !values['broadcast-hook']) throw new UsageError('--broadcast-hook-arg needs --broadcast-hook');
  const windowText = values['broadcast-window'];
  if (windowText !== undefined && !/^\d+$/.test(windowText)) throw new UsageError(`--broadcast-window takes milliseconds, not "${windowText}"`);
  return {
    adb,
    hook: values['broadcast-hook'] ? { command: values['broadcast-hook'], args: values['broadcast-hook-arg'] ?? [] } : undefined,
    batchWindowMs: windowText === undefined ? BATCH_WINDOW_DEFAULT_MS : Number(windowText),
    receiversDir: resolveReceiversDir(values['receivers-dir']).dir,
  };
}
