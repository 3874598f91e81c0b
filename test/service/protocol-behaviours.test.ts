// Behaviours docs/protocol.md promises a client, each against a real daemon over a real socket:
// service names, id 0, stray descriptors, which refusals close the connection, the service
// manager, the order of checks, channel entries that are not channels, Parcel leniency, CHANNEL_BUSY.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import * as native from '../../src/native/addon.js';
import { ParcelWriter } from '../../src/parcel/parcel-writer.js';
import { Status } from '../../src/parcel/status.js';
import { DATA_PROXY_DESCRIPTOR, DATA_PROXY_SERVICE_NAME } from '../../src/service/data-proxy-service.js';
import { SERVICE_MANAGER_DESCRIPTOR } from '../../src/service/service-manager.js';
import { decodeStatusReply, encodeStatusRequest, STATUS_DESCRIPTOR, STATUS_SERVICE_NAME } from '../../src/service/status-service.js';
import { bindDatagramSocket, closeDatagramSocket, createDatagramSocket } from '../../src/broadcast/local/unix-dgram.js';
import { ParcelReader } from '../../src/parcel/parcel-reader.js';
import { decodeFrame, ReplyMode, type ReplyMessage } from '../../src/wire/envelope.js';
import { FrameDecoder } from '../../src/wire/framing.js';
import { useDaemonWithChannel } from '../helpers/daemon-with-channel.js';
import { connectRequest, PING, transactionFrame, type FrameFields } from '../helpers/raw-frames.js';

const suite = useDaemonWithChannel();

const managerData = (write: (w: ParcelWriter) => ParcelWriter = (w) => w, descriptor = SERVICE_MANAGER_DESCRIPTOR) =>
  write(new ParcelWriter().writeInterfaceToken(descriptor)).toBuffer();

/** A connection on a native descriptor: can send descriptors, receives replies with theirs, sees EOF. */
class RawConnection {
  readonly fd: number;
  private readonly decoder = new FrameDecoder();
  private readonly fds: number[] = [];
  readonly replies: { reply: ReplyMessage; fds: number[] }[] = [];
  eof = false;

  constructor() {
    this.fd = native.connectUnix(suite.daemon.servicePath);
    if (this.fd < 0) throw new Error(`connect: ${native.errnoName(this.fd)}`);
  }

  send(bytes: Buffer, fds: number[] = []): void {
    expect(native.sendmsg(this.fd, bytes, fds)).toBe(bytes.length);
  }

  /** Waits for `count` replies in all, or for EOF (then returns what came). */
  async replyCount(count: number): Promise<ReplyMessage[]> {
    const deadline = Date.now() + 10_000;
    const buffer = Buffer.alloc(65536);
    while (this.replies.length < count && !this.eof) {
      if (Date.now() > deadline) throw new Error(`only ${this.replies.length} of ${count} replies within 10 s`);
      const result = native.recvmsg(this.fd, buffer);
      if (typeof result === 'number') {
        if (result !== -11) this.eof = true;
        else await sleep(5);
        continue;
      }
      if (result.bytes === 0) this.eof = true;
      this.fds.push(...result.fds);
      this.decoder.push(buffer.subarray(0, result.bytes));
      for (let body = this.decoder.next(); body; body = this.decoder.next()) {
        const decoded = decodeFrame(body);
        if (decoded.kind !== 'reply') throw new Error('a transaction from the daemon');
        this.replies.push({ reply: decoded.reply, fds: this.fds.splice(0, decoded.reply.fdCount) });
      }
    }
    return this.replies.map((r) => r.reply);
  }

  async reply(): Promise<ReplyMessage> {
    const all = await this.replyCount(this.replies.length + 1);
    const last = all[this.replies.length - 1];
    if (!last) throw new Error('connection closed before the reply');
    return last;
  }

  /** Whether the daemon closes the connection within a few seconds (it hangs up within 1.5 s). */
  async closesSoon(): Promise<boolean> {
    const deadline = Date.now() + 5000;
    const buffer = Buffer.alloc(65536);
    while (!this.eof && Date.now() < deadline) {
      const result = native.recvmsg(this.fd, buffer);
      if (typeof result === 'number') {
        if (result !== -11) this.eof = true;
        else await sleep(20);
      } else if (result.bytes === 0) this.eof = true;
      else this.decoder.push(buffer.subarray(0, result.bytes));
    }
    return this.eof;
  }

  close(): void {
    for (const r of this.replies) r.fds.forEach((fd) => native.close(fd));
    this.fds.forEach((fd) => native.close(fd));
    native.close(this.fd);
  }
}

/** A channel whose listen backlog is full: a connect to it keeps the daemon busy through its retries. */
function busyChannel(name: string): { close(): void; accept(): void } {
  const listener = native.listenUnix(join(suite.daemon.socketDir, `webrtc_data_${name}`), 0);
  expect(listener).toBeGreaterThanOrEqual(0);
  const fillers: number[] = [];
  for (let i = 0; i < 64; i++) {
    const fd = native.connectUnix(join(suite.daemon.socketDir, `webrtc_data_${name}`));
    if (fd === -11) break;
    expect(fd).toBeGreaterThanOrEqual(0);
    fillers.push(fd);
  }
  expect(native.connectUnix(join(suite.daemon.socketDir, `webrtc_data_${name}`))).toBe(-11);
  return {
    accept() {
      for (let fd = native.accept(listener); fd >= 0; fd = native.accept(listener)) native.close(fd);
    },
    close() {
      fillers.splice(0).forEach((fd) => native.close(fd));
      native.close(listener);
    },
  };
}

async function transact(f: FrameFields): Promise<ReplyMessage> {
  const connection = new RawConnection();
  try {
    connection.send(transactionFrame(f));
    return await connection.reply();
  } finally {
    connection.close();
  }
}

describe('service names', () => {
  it('the status service is addressed as org.anbox.oob.IEmulatorStatus; its descriptor (…@1.0) is not a service name', async () => {
    const ok = await transact({ id: 1, service: STATUS_SERVICE_NAME, code: 1, data: encodeStatusRequest() });
    expect(ok.status).toBe(0);
    expect(decodeStatusReply(ok.data).format).toBe(1);
    for (const service of [STATUS_DESCRIPTOR, DATA_PROXY_DESCRIPTOR]) {
      const refused = await transact({ id: 2, service, code: PING });
      expect(refused).toMatchObject({ id: 2, status: Status.NAME_NOT_FOUND, errorCode: 'UNKNOWN_SERVICE' });
      expect(refused.message).toContain(STATUS_SERVICE_NAME);
    }
  });
});

describe('ids', () => {
  it('id 0 is an ordinary id: served, and echoed as 0', async () => {
    const connection = new RawConnection();
    connection.send(Buffer.concat([transactionFrame({ id: 0, code: PING }), transactionFrame({ id: 0, code: 1, data: connectRequest('foo') })]));
    const [ping, connect] = await connection.replyCount(2);
    expect(ping).toMatchObject({ id: 0, status: 0 });
    expect(connect).toMatchObject({ id: 0, status: 0, fdCount: 1 });
    connection.close();
  });
});

describe('descriptors sent to the daemon', () => {
  it('refuse the transaction whose frame holds the last byte of the read they came with, not an earlier one', async () => {
    const busy = busyChannel('stuck');
    const connection = new RawConnection();
    const passenger = native.connectUnix(suite.channel.path);
    // 1 (a connect to a full backlog: the daemon retries it for a while, and reads on meanwhile)
    // and 2 without descriptors, then 3 with one, then 4 without.
    connection.send(Buffer.concat([transactionFrame({ id: 1, code: 1, data: connectRequest('stuck') }), transactionFrame({ id: 2, code: PING })]));
    connection.send(transactionFrame({ id: 3, code: PING }), [passenger]);
    connection.send(transactionFrame({ id: 4, code: PING }));
    native.close(passenger);
    const replies = await connection.replyCount(4);
    busy.close();
    expect(replies.map((r) => [r.id, r.errorCode])).toEqual([
      [1, 'CHANNEL_BUSY'],
      [2, ''],
      [3, 'DESCRIPTORS_NOT_ACCEPTED'],
      [4, ''],
    ]);
    expect(replies[2]!.status).toBe(Status.FDS_NOT_ALLOWED);
    connection.close();
  });
});

describe('refusals that close the connection', () => {
  it('STREAM_NOT_SUPPORTED and UNKNOWN_REPLY_MODE both answer with the transaction id and then close', async () => {
    for (const [replyMode, errorCode, status] of [
      [ReplyMode.STREAM, 'STREAM_NOT_SUPPORTED', Status.INVALID_OPERATION],
      [2, 'UNKNOWN_REPLY_MODE', Status.BAD_VALUE],
    ] as const) {
      const connection = new RawConnection();
      // A ping behind it, in the same write: never answered.
      connection.send(Buffer.concat([transactionFrame({ id: 7, code: PING, replyMode }), transactionFrame({ id: 8, code: PING })]));
      expect(await connection.reply()).toMatchObject({ id: 7, errorCode, status });
      expect(await connection.closesSoon()).toBe(true);
      expect(connection.replies.map((r) => r.reply.id)).toEqual([7]);
      connection.close();
    }
  });

  it('an ordinary refusal (UNKNOWN_TRANSACTION, addService) keeps the connection', async () => {
    const connection = new RawConnection();
    connection.send(transactionFrame({ id: 1, code: 99 }));
    expect(await connection.reply()).toMatchObject({ id: 1, errorCode: 'UNKNOWN_TRANSACTION' });
    connection.send(transactionFrame({ id: 2, service: 'manager', code: 3, data: managerData((w) => w.writeString16('x')) }));
    expect(await connection.reply()).toMatchObject({ id: 2, errorCode: 'PERMISSION_DENIED', status: Status.PERMISSION_DENIED });
    connection.send(transactionFrame({ id: 3, code: PING }));
    expect(await connection.reply()).toMatchObject({ id: 3, status: 0 });
    connection.close();
  });
});

describe('the service manager', () => {
  const names = (reply: ReplyMessage) => {
    const reader = new ParcelReader(reply.data);
    expect(reader.readInt32()).toBe(0);
    return reader.readString16Array();
  };

  it('getService("manager") returns the manager itself; listServices lists it, with or without its int32 argument', async () => {
    const self = await transact({ id: 1, service: 'manager', code: 1, data: managerData((w) => w.writeString16('manager')) });
    const reader = new ParcelReader(self.data);
    expect([reader.readInt32(), reader.readString16()]).toEqual([0, SERVICE_MANAGER_DESCRIPTOR]);
    const withArgument = names(await transact({ id: 2, service: 'manager', code: 4, data: managerData((w) => w.writeInt32(0xf)) }))!;
    // Every service, manager included, sorted (other services may be added: only these are required).
    expect(withArgument).toEqual(expect.arrayContaining(['manager', STATUS_SERVICE_NAME, DATA_PROXY_SERVICE_NAME]));
    expect(withArgument).toEqual([...withArgument].sort());
    expect(names(await transact({ id: 3, service: 'manager', code: 4, data: managerData() }))).toEqual(withArgument);
  });

  it('addService checks the interface token first, then refuses with PERMISSION_DENIED', async () => {
    expect(await transact({ id: 1, service: 'manager', code: 3, data: managerData((w) => w, 'android.os.IOther') })).toMatchObject({ errorCode: 'WRONG_INTERFACE' });
    expect(await transact({ id: 2, service: 'manager', code: 3, data: Buffer.alloc(0) })).toMatchObject({ errorCode: 'BAD_INTERFACE_TOKEN' });
  });
});

describe('the order of checks', () => {
  it('reply mode before service, service before code, code before token, token before arguments, name before the file', async () => {
    expect(await transact({ id: 1, service: 'nope', code: 1, replyMode: 5 })).toMatchObject({ errorCode: 'UNKNOWN_REPLY_MODE' });
    expect(await transact({ id: 2, service: 'nope', code: 99 })).toMatchObject({ errorCode: 'UNKNOWN_SERVICE' });
    expect(await transact({ id: 3, code: 99, data: Buffer.from('garbage') })).toMatchObject({ errorCode: 'UNKNOWN_TRANSACTION' });
    expect(await transact({ id: 4, code: 1, data: connectRequest('../x', 'org.example.IOther') })).toMatchObject({ errorCode: 'WRONG_INTERFACE' });
    expect(await transact({ id: 5, code: 1, data: connectRequest('../x') })).toMatchObject({ errorCode: 'INVALID_CHANNEL_NAME' });
    expect(await transact({ id: 6, code: 1, data: connectRequest('absent') })).toMatchObject({ errorCode: 'CHANNEL_NOT_FOUND' });
  });
});

describe('channel entries that are not channels', () => {
  it('a regular file, a directory and a symlink to a live channel socket are CHANNEL_NOT_FOUND; a socket nobody listens on is CHANNEL_REFUSED', async () => {
    writeFileSync(join(suite.daemon.socketDir, 'webrtc_data_file'), 'x');
    mkdirSync(join(suite.daemon.socketDir, 'webrtc_data_dir'));
    symlinkSync(suite.channel.path, join(suite.daemon.socketDir, 'webrtc_data_link'));
    for (const name of ['file', 'dir', 'link']) {
      expect(await transact({ id: 1, code: 1, data: connectRequest(name) })).toMatchObject({ errorCode: 'CHANNEL_NOT_FOUND', status: Status.NAME_NOT_FOUND });
    }
    const deaf = native.listenUnix(join(suite.daemon.socketDir, 'webrtc_data_deaf'), 1);
    expect(deaf).toBeGreaterThanOrEqual(0);
    native.close(deaf); // the file stays, nobody listens
    expect(await transact({ id: 2, code: 1, data: connectRequest('deaf') })).toMatchObject({ errorCode: 'CHANNEL_REFUSED', status: Status.DEAD_OBJECT });
    const datagram = createDatagramSocket();
    await bindDatagramSocket(datagram, join(suite.daemon.socketDir, 'webrtc_data_dgram'));
    try {
      expect(await transact({ id: 3, code: 1, data: connectRequest('dgram') })).toMatchObject({ errorCode: 'CHANNEL_NOT_A_STREAM_SOCKET', status: Status.BAD_TYPE });
    } finally {
      closeDatagramSocket(datagram);
    }
  });
});

describe('Parcel leniency and String16 errors', () => {
  const token = () => new ParcelWriter().writeInterfaceToken(DATA_PROXY_DESCRIPTOR).toBuffer();

  it('ignores bytes after the last argument and the values of padding bytes, as libbinder does', async () => {
    const trailing = Buffer.concat([connectRequest('foo'), Buffer.from([1, 2, 3, 4, 5])]);
    expect(await transact({ id: 1, code: 1, data: trailing })).toMatchObject({ status: 0, fdCount: 1 });
    // "foo": length 3, 6 bytes of units, terminator 0000, already aligned -> use "fo" (2 units: 4 + 2 + 2 padding).
    const padded = Buffer.concat([token(), Buffer.from([2, 0, 0, 0, 0x66, 0, 0x6f, 0, 0, 0, 0xab, 0xcd])]);
    writeFileSync(join(suite.daemon.socketDir, 'webrtc_data_fo'), ''); // not a socket: reaching the file check proves the name parsed
    expect(await transact({ id: 2, code: 1, data: padded })).toMatchObject({ errorCode: 'CHANNEL_NOT_FOUND' });
  });

  it('a String16 cut inside its characters is LENGTH_TOO_LARGE; one cut inside its length word is TRUNCATED', async () => {
    const cut = Buffer.concat([token(), Buffer.from([3, 0, 0, 0, 0x66, 0, 0x6f])]);
    expect(await transact({ id: 1, code: 1, data: cut })).toMatchObject({ errorCode: 'LENGTH_TOO_LARGE', status: Status.BAD_VALUE });
    const short = Buffer.concat([token(), Buffer.from([3, 0])]);
    expect(await transact({ id: 2, code: 1, data: short })).toMatchObject({ errorCode: 'TRUNCATED', status: Status.NOT_ENOUGH_DATA });
  });
});

describe('CHANNEL_BUSY', () => {
  it('is the answer once the channel backlog stays full through the retries; the next connect after room is made succeeds', async () => {
    const busy = busyChannel('busy');
    try {
      expect(await transact({ id: 1, code: 1, data: connectRequest('busy') })).toMatchObject({ errorCode: 'CHANNEL_BUSY', status: Status.WOULD_BLOCK });
      busy.accept();
      const ok = await transact({ id: 2, code: 1, data: connectRequest('busy') });
      expect(ok).toMatchObject({ status: 0, fdCount: 1 });
    } finally {
      busy.close();
    }
  });
});
