/**
 * File modes of the channel sockets (`webrtc_data_<name>`, --channel-socket-mode).
 *
 * Default 0600: only the socket's owner (the platform's uid) and root may connect straight to a
 * channel; every other uid goes through the data-proxy daemon, which checks its allow-list
 * (--allow-uid) and hands out the connected descriptor. 0660 lets the socket's group connect
 * directly (past the allow-list, as Anbox's own sockets did before), 0666 every uid that can enter
 * the socket dir. The owner always reads and writes; nothing executes.
 */
export const DEFAULT_CHANNEL_SOCKET_MODE = 0o600;
export const CHANNEL_SOCKET_MODES: readonly number[] = [0o600, 0o660, 0o666];

/** `0600` style, for messages. */
export function formatMode(mode: number): string {
  return `0${mode.toString(8)}`;
}
