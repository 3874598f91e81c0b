import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A scripted adb server on 127.0.0.1 that the REAL adb client (29.0.6) can talk to: run adb with
 * `fake.env` (ANDROID_ADB_SERVER_PORT + ANDROID_ADB_SERVER_ADDRESS=127.0.0.1, so the client treats
 * the server as remote and never forks one of its own).
 *
 * Implements the host protocol as that client uses it (see shared/reference/adb.md):
 * host:version, host:devices, host:devices-l, host:features, host-serial:S:features,
 * host:tport:serial:S / host:tport:any (8-byte LE transport id, then a service on the same socket),
 * legacy host:transport:S / host:transport-any, host:kill; services shell,v2,…:CMD (shell protocol v2:
 * stdout id 1, stderr id 2, exit id 3) and shell:CMD (raw output, no exit code).
 * Every shell command line the "device" receives is recorded; tests script the next replies.
 *
 * Reverse forwarding (`adb reverse`), answered the way adbd answers through the server: the client
 * reads TWO statuses for reverse:forward / reverse:killforward / reverse:killforward-all (the
 * server's "connect" OKAY, then adbd's OKAY or FAIL + len + message), and for reverse:list-forward
 * one OKAY then a length-prefixed list of "<transport> <device-side> <host-side>\n" lines. Each
 * device keeps its own table of reverses; a device removed with setDevices() loses it, as a device
 * that disconnects does. Every reverse request is recorded (`reverseRequests`).
 */

export type DeviceState = 'device' | 'offline' | 'unauthorized';

export interface FakeDevice {
  serial: string;
  /** Default 'device'. */
  state?: DeviceState;
  /** Default ['shell_v2', 'cmd']; without shell_v2 the client falls back to `shell:CMD`. */
  features?: string[];
}

/** What the device answers to one shell command (default: am's success output, exit 0). */
export interface ShellOutput {
  stdout?: string;
  stderr?: string;
  /** Default 0. Not transmitted over the legacy `shell:` service. */
  exitCode?: number;
}

/** The server refuses the next device request (features/transport) with FAIL + this message. */
export interface ShellFailure {
  fail: string;
}

export type ScriptedReply = ShellOutput | ShellFailure;

export interface ShellCommandRecord {
  serial: string;
  /** The whole service request, e.g. "shell,v2,raw:'am' 'broadcast'". */
  service: string;
  /** What the device's shell would run: the part after the first ':'. */
  command: string;
  protocol: 'shell_v2' | 'shell';
}

/** One reverse service request a device received (`adb reverse …`). */
export interface ReverseRequestRecord {
  serial: string;
  /** The whole service request, e.g. "reverse:forward:localabstract:x;localfilesystem:/tmp/y". */
  service: string;
  kind: 'forward' | 'killforward' | 'killforward-all' | 'list-forward';
  /** The device-side socket (forward, killforward). */
  remote?: string;
  /** The host-side socket (forward). */
  local?: string;
  /** `adb reverse --no-rebind`. */
  norebind?: boolean;
}

/** One reverse in place on a device: connections to `remote` (device side) reach `local` (host side). */
export interface ReverseEntry {
  remote: string;
  local: string;
}

export const AM_SUCCESS_OUTPUT =
  'Broadcasting: Intent { act=com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS flg=0x400000 (has extras) }\nBroadcast completed: result=0\n';

const ADB_SERVER_VERSION = '0029';
const UNAUTHORIZED_MESSAGE =
  "device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\nTry 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device.";

const DEFAULT_FEATURES = ['shell_v2', 'cmd'];

function isFailure(reply: ScriptedReply): reply is ShellFailure {
  return 'fail' in reply;
}

function hexLength(payload: Buffer): string {
  return payload.length.toString(16).padStart(4, '0');
}

export class FakeAdbServer {
  /** Every host request received, in order (e.g. "host:version", "host-serial:x:features"). */
  readonly requests: string[] = [];
  /** Every shell command the devices received, in order. */
  readonly commands: ShellCommandRecord[] = [];
  /** Every reverse service request the devices received, in order. */
  readonly reverseRequests: ReverseRequestRecord[] = [];
  #devices: FakeDevice[];
  /** serial → device-side socket → host-side socket. */
  readonly #reverses = new Map<string, Map<string, string>>();
  readonly #replies: ScriptedReply[] = [];
  #defaultReply: ShellOutput = { stdout: AM_SUCCESS_OUTPUT, exitCode: 0 };
  readonly #sockets = new Set<Socket>();
  readonly #waiters = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    devices: FakeDevice[],
  ) {
    this.#devices = devices;
  }

  /** `port` 0 (default): a free port; another port: e.g. the one of a server that was closed, to bring "adb" back. */
  static async start(devices: FakeDevice[] = [{ serial: 'emulator-5554' }], port = 0): Promise<FakeAdbServer> {
    const server = createServer();
    const fake = new FakeAdbServer(server, devices);
    server.on('connection', (socket) => fake.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The environment that points a real adb client at this server (merge into process.env). */
  get env(): Record<string, string> {
    return { ANDROID_ADB_SERVER_PORT: String(this.port), ANDROID_ADB_SERVER_ADDRESS: '127.0.0.1' };
  }

  /** Replaces the device list; a device that is no longer listed loses its reverses (as on a disconnect). */
  setDevices(devices: FakeDevice[]): void {
    this.#devices = devices;
    for (const serial of [...this.#reverses.keys()]) {
      if (!devices.some((d) => d.serial === serial)) this.#reverses.delete(serial);
    }
  }

  /** The reverses in place on a device now, in the order they were made. */
  reverses(serial: string): ReverseEntry[] {
    return [...(this.#reverses.get(serial) ?? new Map<string, string>())].map(([remote, local]) => ({ remote, local }));
  }

  /** Resolves once `predicate` holds (checked after every shell or reverse request, and at once). */
  waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!predicate()) return false;
        cleanup();
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake adb server: no ${what} after ${timeoutMs} ms (reverse requests: ${JSON.stringify(this.reverseRequests.map((r) => r.service))})`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      if (!check()) this.#waiters.add(check);
    });
  }

  /** Replies for the next shell commands, in order; once used up, the default reply is used. */
  script(...replies: ScriptedReply[]): void {
    this.#replies.push(...replies);
  }

  setDefaultReply(reply: ShellOutput): void {
    this.#defaultReply = reply;
  }

  /** Resolves once at least `count` shell commands have been received. */
  waitForCommands(count: number, timeoutMs = 10_000): Promise<ShellCommandRecord[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.commands.length < count) return false;
        cleanup();
        resolve(this.commands.slice());
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake adb server: ${this.commands.length} of ${count} shell commands after ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      if (!check()) this.#waiters.add(check);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    /** Set once a transport is selected: the next request is a service on that device. */
    let transport: FakeDevice | undefined;
    let done = false;
    socket.on('data', (chunk) => {
      if (done) return; // shell v2 stdin / close-stdin packets after the service request: ignored
      buffer = Buffer.concat([buffer, chunk]);
      while (!done && buffer.length >= 4) {
        const length = Number.parseInt(buffer.subarray(0, 4).toString('latin1'), 16);
        if (Number.isNaN(length)) {
          done = true;
          socket.destroy();
          return;
        }
        if (buffer.length < 4 + length) return;
        const request = buffer.subarray(4, 4 + length).toString('utf8');
        buffer = buffer.subarray(4 + length);
        if (transport) {
          done = true;
          this.#service(socket, transport, request);
        } else {
          const result = this.#host(socket, request);
          if (result === 'closed') done = true;
          else if (result !== 'continue') transport = result;
        }
      }
    });
  }

  /** Answers a host request; returns the selected device when the socket stays open for a service. */
  #host(socket: Socket, request: string): FakeDevice | 'closed' | 'continue' {
    this.requests.push(request);
    if (request === 'host:version') return this.#reply(socket, ADB_SERVER_VERSION);
    if (request === 'host:devices' || request === 'host:devices-l') {
      const long = request.endsWith('-l');
      const list = this.#devices
        .map((device, index) => {
          const state = device.state ?? 'device';
          if (!long) return `${device.serial}\t${state}\n`;
          return `${device.serial.padEnd(22)} ${state} product:fake model:Fake_Device device:fake transport_id:${index + 1}\n`;
        })
        .join('');
      return this.#reply(socket, list);
    }
    if (request === 'host:kill') {
      socket.end('OKAY');
      return 'closed';
    }
    const serialFeatures = /^host-serial:(.*):features$/.exec(request);
    if (serialFeatures || request === 'host:features') {
      const device = this.#select(socket, serialFeatures ? serialFeatures[1] : undefined);
      if (!device) return 'closed';
      return this.#reply(socket, (device.features ?? DEFAULT_FEATURES).join(','));
    }
    const tport = /^host:tport:(?:serial:(.*)|any)$/.exec(request);
    if (tport) {
      const device = this.#select(socket, tport[1]);
      if (!device) return 'closed';
      const id = Buffer.alloc(8);
      id.writeBigUInt64LE(BigInt(this.#devices.indexOf(device) + 1));
      socket.write(Buffer.concat([Buffer.from('OKAY'), id]));
      return device;
    }
    const legacy = /^host:transport(?::(.*)|-any)$/.exec(request);
    if (legacy) {
      const device = this.#select(socket, legacy[1]);
      if (!device) return 'closed';
      socket.write('OKAY');
      return device;
    }
    return this.#fail(socket, `unknown host service '${request}'`);
  }

  /** The device a request targets, or undefined after answering FAIL the way the real server does. */
  #select(socket: Socket, serial: string | undefined): FakeDevice | undefined {
    const head = this.#replies[0];
    if (head && isFailure(head)) {
      this.#replies.shift();
      this.#fail(socket, head.fail);
      return undefined;
    }
    let device: FakeDevice | undefined;
    if (serial === undefined) {
      if (this.#devices.length === 0) return void this.#fail(socket, 'no devices/emulators found');
      if (this.#devices.length > 1) return void this.#fail(socket, 'more than one device/emulator');
      device = this.#devices[0];
    } else {
      device = this.#devices.find((d) => d.serial === serial);
      if (!device) return void this.#fail(socket, `device '${serial}' not found`);
    }
    const state = device.state ?? 'device';
    if (state === 'offline') return void this.#fail(socket, 'device offline');
    if (state === 'unauthorized') return void this.#fail(socket, UNAUTHORIZED_MESSAGE);
    return device;
  }

  #service(socket: Socket, device: FakeDevice, service: string): void {
    if (service.startsWith('reverse:')) {
      this.#reverse(socket, device, service);
      for (const waiter of [...this.#waiters]) waiter();
      return;
    }
    const match = /^shell(,[^:]*)?:([\s\S]*)$/.exec(service);
    if (!match) {
      this.requests.push(service);
      this.#fail(socket, `unknown service '${service}'`);
      return;
    }
    const options = (match[1] ?? '').split(',').filter((o) => o.length > 0);
    const protocol = options.includes('v2') ? 'shell_v2' : 'shell';
    const head = this.#replies[0];
    const reply: ShellOutput = head && !isFailure(head) ? (this.#replies.shift() as ShellOutput) : this.#defaultReply;
    this.commands.push({ serial: device.serial, service, command: match[2], protocol });
    for (const waiter of [...this.#waiters]) waiter();
    socket.write('OKAY');
    const stdout = Buffer.from(reply.stdout ?? '');
    const stderr = Buffer.from(reply.stderr ?? '');
    if (protocol === 'shell') {
      socket.end(Buffer.concat([stdout, stderr]));
      return;
    }
    const packet = (id: number, data: Buffer): Buffer => {
      const header = Buffer.alloc(5);
      header.writeUInt8(id, 0);
      header.writeUInt32LE(data.length, 1);
      return Buffer.concat([header, data]);
    };
    const packets: Buffer[] = [];
    if (stdout.length > 0) packets.push(packet(1, stdout));
    if (stderr.length > 0) packets.push(packet(2, stderr));
    packets.push(packet(3, Buffer.from([reply.exitCode ?? 0])));
    socket.end(Buffer.concat(packets));
  }

  /** adbd's reverse services (adb.cpp handle_forward_request), after the server's "connect" OKAY. */
  #reverse(socket: Socket, device: FakeDevice, service: string): void {
    const table = this.#reverses.get(device.serial) ?? new Map<string, string>();
    this.#reverses.set(device.serial, table);
    const spec = service.slice('reverse:'.length);
    const record = (r: Omit<ReverseRequestRecord, 'serial' | 'service'>) => this.reverseRequests.push({ serial: device.serial, service, ...r });
    const okayOkay = () => socket.end('OKAYOKAY');
    const okayFail = (message: string) => {
      const data = Buffer.from(message);
      socket.end(Buffer.concat([Buffer.from(`OKAYFAIL${hexLength(data)}`), data]));
    };
    if (spec === 'list-forward') {
      record({ kind: 'list-forward' });
      // adbd's format_listeners(): "<transport serial> <local_name> <connect_to>\n" (UsbFfs over USB).
      const list = Buffer.from([...table].map(([remote, local]) => `UsbFfs ${remote} ${local}\n`).join(''));
      socket.end(Buffer.concat([Buffer.from(`OKAY${hexLength(list)}`), list]));
      return;
    }
    if (spec === 'killforward-all') {
      record({ kind: 'killforward-all' });
      table.clear();
      okayOkay();
      return;
    }
    if (spec.startsWith('killforward:')) {
      const remote = spec.slice('killforward:'.length);
      record({ kind: 'killforward', remote });
      if (!table.delete(remote)) return okayFail(`listener '${remote}' not found`);
      okayOkay();
      return;
    }
    if (spec.startsWith('forward:')) {
      let rest = spec.slice('forward:'.length);
      const norebind = rest.startsWith('norebind:');
      if (norebind) rest = rest.slice('norebind:'.length);
      const pieces = rest.split(';');
      const [remote, local] = pieces;
      if (pieces.length !== 2 || !remote || !local || local.startsWith('*')) {
        record({ kind: 'forward', norebind });
        return okayFail('malformed forward spec');
      }
      record({ kind: 'forward', remote, local, norebind });
      if (norebind && table.has(remote)) return okayFail(`cannot rebind listener: '${remote}' already bound`);
      table.set(remote, local);
      okayOkay();
      return;
    }
    this.requests.push(service);
    this.#fail(socket, `unknown service '${service}'`);
  }

  #reply(socket: Socket, payload: string): 'closed' {
    const data = Buffer.from(payload);
    socket.end(Buffer.concat([Buffer.from(`OKAY${hexLength(data)}`), data]));
    return 'closed';
  }

  #fail(socket: Socket, message: string): 'closed' {
    const data = Buffer.from(message);
    socket.end(Buffer.concat([Buffer.from(`FAIL${hexLength(data)}`), data]));
    return 'closed';
  }
}
