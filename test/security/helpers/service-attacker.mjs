// A hostile client of the data-proxy service socket, run as its own process so that a test can
// run it as another uid (setpriv). Usage: node service-attacker.mjs MODE SOCKET 'JSON options'.
// Prints one JSON line with what it saw. Every loop is bounded by options.timeoutMs.
//
// Modes:
//   flood     bad frames without reading the replies, then a fatal frame (a 4 GiB header, or a
//             stream-mode connect the daemon refuses), then junk until `totalBytes` were accepted
//             by the kernel, the daemon hung up, or the time is up. Never reads.
//   pipeline  `count` pings in one write, then reads replies until EOF or the time is up.
//   partial   `connections` connections each send half of a `frameBytes` frame (nothing with
//             `silent`), then wait for the daemon to hang up.
//   badframes `connections` connections one after another, each pipelining `frames` malformed
//             frames and reading the replies until EOF or `frames` replies (fills the log).
//   noread    pings as fast as the socket takes them, never reading a reply, until the daemon stops
//             reading (the kernel buffers fill) and hangs up, or the time is up.
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

const dist = new URL('../../../dist/src/', import.meta.url);
const native = await import(new URL('native/addon.js', dist).href);
const { encodeTransaction, decodeFrame } = await import(new URL('wire/envelope.js', dist).href);
const { encodeFrame, FrameDecoder } = await import(new URL('wire/framing.js', dist).href);
const { ParcelWriter } = await import(new URL('parcel/parcel-writer.js', dist).href);

const { errno } = constants;
const [mode, socketPath, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}');
const timeoutMs = options.timeoutMs ?? 20_000;
const started = Date.now();
const SERVICE = 'org.anbox.webrtc.IDataProxyService';
const PING = 0x5f504e47;

function transaction(id, code, data, replyMode = 0) {
  return encodeFrame(encodeTransaction({ id, service: SERVICE, code, flags: 0, data, objectOffsets: [], replyMode }));
}

function connectRequest(channel) {
  return new ParcelWriter().writeInterfaceToken('org.anbox.webrtc.IDataProxyService@1.0').writeString16(channel).toBuffer();
}

function open() {
  const fd = native.connectUnix(socketPath);
  if (fd < 0) throw new Error(`connect ${socketPath}: ${native.errnoName(fd)}`);
  return fd;
}

/** Sends all of `bytes` unless the peer hangs up or time runs out; returns bytes the kernel took, and whether the peer hung up. */
async function sendAll(fd, bytes, deadline) {
  let offset = 0;
  while (offset < bytes.length) {
    const sent = native.sendmsg(fd, bytes.subarray(offset), []);
    if (sent >= 0) offset += sent;
    else if (sent === -errno.EAGAIN) {
      if (Date.now() > deadline) return { sent: offset, hungUp: false };
      await sleep(5);
    } else return { sent: offset, hungUp: true, errno: native.errnoName(sent) };
  }
  return { sent: offset, hungUp: false };
}

/** Reads replies until EOF or the deadline; returns them. */
async function readReplies(fd, deadline, buffer = Buffer.allocUnsafe(256 * 1024)) {
  const decoder = new FrameDecoder();
  const replies = [];
  for (;;) {
    const result = native.recvmsg(fd, buffer);
    if (typeof result === 'number') {
      if (result !== -errno.EAGAIN) return { replies, eof: true };
      if (Date.now() > deadline) return { replies, eof: false };
      await sleep(5);
      continue;
    }
    for (const extra of result.fds) native.close(extra);
    if (result.bytes === 0) return { replies, eof: true };
    decoder.push(buffer.subarray(0, result.bytes));
    for (let body = decoder.next(); body; body = decoder.next()) {
      const frame = decodeFrame(body);
      if (frame.kind === 'reply') replies.push({ id: frame.reply.id, status: frame.reply.status, errorCode: frame.reply.errorCode, message: frame.reply.message });
    }
  }
}

/** Whether the daemon hung up: a send fails with EPIPE/ECONNRESET (we never read, so no EOF is seen). */
async function waitHangUp(fd, deadline) {
  for (;;) {
    const sent = native.sendmsg(fd, Buffer.alloc(0), []);
    if (sent < 0 && sent !== -errno.EAGAIN) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

async function flood() {
  const deadline = started + timeoutMs;
  const fd = open();
  const bad = encodeFrame(Buffer.from([0xff, 0xff, 0xff])); // not a Frame message: MALFORMED_FRAME
  const badFrames = Buffer.concat(Array.from({ length: options.badFrames ?? 0 }, () => bad));
  let fatal;
  if (options.fatal === 'stream') fatal = transaction(1, 1, connectRequest('no-such-channel'), 1);
  else {
    fatal = Buffer.alloc(4);
    fatal.writeUInt32LE(0xffffffff, 0);
  }
  let accepted = 0;
  let result = await sendAll(fd, Buffer.concat([badFrames, fatal]), deadline);
  accepted += result.sent;
  let fatalAt = Date.now();
  const junk = Buffer.alloc(256 * 1024, 0x41);
  const total = options.totalBytes ?? 200 * 1024 * 1024;
  while (!result.hungUp && accepted < total && Date.now() < deadline) {
    result = await sendAll(fd, junk, deadline);
    accepted += result.sent;
  }
  const hungUp = result.hungUp || (await waitHangUp(fd, deadline));
  native.close(fd);
  return { accepted, hungUp, hungUpAfterMs: hungUp ? Date.now() - fatalAt : null };
}

async function pipeline() {
  const deadline = started + timeoutMs;
  const fd = open();
  const count = options.count ?? 100;
  const frames = Buffer.concat(Array.from({ length: count }, (_, i) => transaction(i + 1, PING, Buffer.alloc(0))));
  const sent = await sendAll(fd, frames, deadline);
  const { replies, eof } = await readReplies(fd, deadline);
  native.close(fd);
  return { sent: sent.sent, replies, eof };
}

async function partial() {
  const deadline = started + timeoutMs;
  const frameBytes = options.frameBytes ?? 1024 * 1024;
  const half = Buffer.alloc(4 + (options.sendBytes ?? frameBytes / 2), 0x41);
  half.writeUInt32LE(frameBytes, 0);
  const fds = [];
  for (let i = 0; i < (options.connections ?? 1); i++) {
    const fd = native.connectUnix(socketPath);
    if (fd < 0) break;
    fds.push(fd);
    // Not blocking on one connection: a daemon that stops reading leaves the rest unsent.
    // `silent`: not a byte, the connection only held open.
    if (!options.silent) await sendAll(fd, half, Math.min(deadline, Date.now() + 10));
  }
  const opened = Date.now();
  // The wait for hang-ups is counted from here: opening many connections takes time of its own.
  const waitUntil = options.waitMs === undefined ? deadline : opened + options.waitMs;
  const open = new Set(fds);
  const closedAfterMs = [];
  const buffer = Buffer.allocUnsafe(64 * 1024);
  while (open.size > 0 && Date.now() < waitUntil) {
    for (const fd of [...open]) {
      const result = native.recvmsg(fd, buffer);
      if (typeof result === 'number' ? result !== -errno.EAGAIN : result.bytes === 0) {
        open.delete(fd);
        closedAfterMs.push(Date.now() - opened);
      }
    }
    await sleep(20);
  }
  for (const fd of fds) native.close(fd);
  return { connections: fds.length, closed: closedAfterMs.length, maxClosedAfterMs: Math.max(0, ...closedAfterMs) };
}

async function noread() {
  const deadline = started + timeoutMs;
  const fd = open();
  const batch = Buffer.concat(Array.from({ length: 256 }, (_, i) => transaction(i + 1, PING, Buffer.alloc(0))));
  let accepted = 0;
  let hungUp = false;
  while (!hungUp && accepted < (options.totalBytes ?? 200 * 1024 * 1024) && Date.now() < deadline) {
    const sent = native.sendmsg(fd, batch, []);
    if (sent >= 0) accepted += sent;
    else if (sent === -errno.EAGAIN) await sleep(5);
    else hungUp = true;
  }
  hungUp ||= await waitHangUp(fd, deadline);
  native.close(fd);
  return { accepted, hungUp, elapsedMs: Date.now() - started };
}

async function badframes() {
  const deadline = started + timeoutMs;
  const frames = options.frames ?? 1000;
  const bad = Buffer.concat(Array.from({ length: frames }, () => encodeFrame(Buffer.from([0xff, 0xff, 0xff]))));
  let replies = 0;
  let connections = 0;
  for (let i = 0; i < (options.connections ?? 1) && Date.now() < deadline; i++) {
    const fd = native.connectUnix(socketPath);
    if (fd < 0) continue;
    connections++;
    // Send and read together: a peer that does not read is stopped, which is another test.
    const sending = sendAll(fd, bad, deadline);
    const decoder = new FrameDecoder();
    const buffer = Buffer.allocUnsafe(256 * 1024);
    let mine = 0;
    for (;;) {
      const result = native.recvmsg(fd, buffer);
      if (typeof result === 'number') {
        if (result !== -errno.EAGAIN || Date.now() > deadline) break;
        await sleep(2);
        continue;
      }
      if (result.bytes === 0) break;
      decoder.push(buffer.subarray(0, result.bytes));
      while (decoder.next()) mine++;
      if (mine >= frames) break;
    }
    await sending;
    replies += mine;
    native.close(fd);
  }
  return { connections, replies };
}

const modes = { flood, pipeline, partial, noread, badframes };
if (!modes[mode]) throw new Error(`unknown mode ${mode}; one of ${Object.keys(modes).join(', ')}`);
process.stdout.write(`${JSON.stringify(await modes[mode]())}\n`);
