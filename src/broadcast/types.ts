/** The broadcast Anbox sends when data channels come and go (extras as Android receivers read them). */
export const CHANNEL_STATUS_ACTION = 'com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS';
export const EXTRA_EVENT = 'event';
export const EXTRA_DATA_CHANNEL_NAMES = 'data-channel-names';

export type ChannelEvent = 'created' | 'destroyed';

/** One broadcast: one event for one or more channels that changed together. */
export interface ChannelBroadcast {
  /** 1, 2, 3, ... per daemon run; receivers can spot gaps. */
  sequence: number;
  event: ChannelEvent;
  /** Channel names (validated: no commas), in the order they changed. */
  names: string[];
  /** Unix time in milliseconds when the broadcast was formed. */
  timestamp: number;
}

/** What became of one broadcast at one sink, for logs and `anbox-oob status`. */
export interface DeliveryResult {
  sink: string;
  ok: boolean;
  /** For people: "delivered", "am: Error: ...", "no device 'emulator-5554': is it connected? (adb devices)". */
  detail: string;
  attempts: number;
}

/**
 * A destination of broadcasts: the adb hook, a command hook, the local receivers. The broadcaster
 * gives each sink its broadcasts in order, one at a time, from a bounded queue of its own, so a
 * slow or failing sink never delays the others. deliver() must not throw: failures are results.
 */
export interface BroadcastSink {
  readonly name: string;
  deliver(broadcast: ChannelBroadcast): Promise<DeliveryResult>;
  close(): Promise<void>;
}
