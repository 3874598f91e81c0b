import { join } from 'node:path';

/**
 * The one validator for data channel names, shared by the proxy daemon and the platform.
 *
 * Accepted: 1 to 64 characters from [A-Za-z0-9._-], except "." and "..".
 * Why so narrow: the name becomes a file name (`webrtc_data_<name>`), so no "/" or NUL; it travels
 * through `am broadcast --esa`, which splits on "," and cannot carry one; it passes through the
 * device's shell, the SDK's signalling and logs, where control characters, spaces and quotes only
 * cause trouble. A Unix socket path must also fit sun_path (107 bytes): see channelSocketPath.
 */
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const CHANNEL_NAME_MAX_LENGTH = 64;
export const CHANNEL_SOCKET_PREFIX = 'webrtc_data_';
/**
 * The Streaming SDK's own channel (session control, v1 messages, `stream::disconnect`): a valid
 * name, but never a data channel, so never a socket. The one definition for platform, headless
 * client and CLI.
 */
export const CONTROL_CHANNEL = 'control';
/** sizeof(sockaddr_un.sun_path) minus the terminating NUL. */
export const SUN_PATH_MAX_BYTES = 107;

export type ChannelNameProblem = 'EMPTY' | 'TOO_LONG' | 'DOT_NAME' | 'BAD_CHARACTER' | 'PATH_TOO_LONG';

export class ChannelNameError extends Error {
  override readonly name = 'ChannelNameError';
  constructor(
    readonly problem: ChannelNameProblem,
    message: string,
  ) {
    super(message);
  }
}

/** Throws ChannelNameError saying what is wrong with the name; returns it unchanged when valid. */
export function validateChannelName(name: string): string {
  if (name.length === 0) throw new ChannelNameError('EMPTY', 'channel name is empty');
  if (name === '.' || name === '..') throw new ChannelNameError('DOT_NAME', `channel name "${name}" is not allowed`);
  if (name.length > CHANNEL_NAME_MAX_LENGTH) {
    throw new ChannelNameError('TOO_LONG', `channel name is ${name.length} characters; at most ${CHANNEL_NAME_MAX_LENGTH} are allowed`);
  }
  if (!CHANNEL_NAME_PATTERN.test(name)) {
    const bad = [...name].find((c) => !/[A-Za-z0-9._-]/.test(c)) ?? '';
    throw new ChannelNameError(
      'BAD_CHARACTER',
      `channel name ${JSON.stringify(name)} contains ${describeCharacter(bad)}; allowed are ASCII letters (A-Z, a-z), digits, ".", "_" and "-"`,
    );
  }
  return name;
}

/** `<socketDir>/webrtc_data_<name>` after validating the name and that the path fits sun_path. */
export function channelSocketPath(socketDir: string, name: string): string {
  validateChannelName(name);
  const path = join(socketDir, CHANNEL_SOCKET_PREFIX + name);
  const bytes = Buffer.byteLength(path);
  if (bytes > SUN_PATH_MAX_BYTES) {
    throw new ChannelNameError(
      'PATH_TOO_LONG',
      `socket path ${path} is ${bytes} bytes; Unix socket paths hold at most ${SUN_PATH_MAX_BYTES}: use a shorter channel name or socket directory`,
    );
  }
  return path;
}

function describeCharacter(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  return `${JSON.stringify(c)} (U+${code.toString(16).padStart(4, '0').toUpperCase()})`;
}
