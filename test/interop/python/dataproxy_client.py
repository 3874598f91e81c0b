#!/usr/bin/env python3
"""A client of the anbox-oob-emulator data-proxy service, written from docs/protocol.md alone.

Standard library only (Python 3.9+ for socket.recv_fds): the protobuf envelope, the Android Parcel
bytes and the SCM_RIGHTS handling are all done by hand here, so that this file doubles as a check
that the protocol document is enough to write a client.

Library use:

    with ServiceConnection('/run/user/1000/anbox/data-proxy.sock') as conn:
        channel = conn.connect_channel('foo', layout='api30')   # a socket.socket
        ...

CLI (one JSON line on stdout; exit 0 = ok, 3 = the daemon answered with an error status,
4 = local failure: no daemon, lost connection, protocol violation, timeout; 5 = --expect mismatch):

    dataproxy_client.py --service-socket PATH connect CHANNEL [--layout api28|api29|api30]
                        [--send TEXT] [--expect TEXT]
    dataproxy_client.py --service-socket PATH stream CHANNEL [--layout ...] [--send TEXT]
                        [--expect TEXT] [--send-early]
    dataproxy_client.py --service-socket PATH ping [--service NAME]
    dataproxy_client.py --service-socket PATH interface [--service NAME]
    dataproxy_client.py --service-socket PATH send-message TYPE DATA [--layout ...]
                        (exit 0 = sent, 5 = not sent: the JSON line has code and reason)
    dataproxy_client.py selftest        (codec checks against the examples of the document)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import stat
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

# ---------------------------------------------------------------------------------------------
# Constants (docs/protocol.md sections 2, 3, 4, 5, 7)
# ---------------------------------------------------------------------------------------------

DATA_PROXY_SERVICE = 'org.anbox.webrtc.IDataProxyService'
DATA_PROXY_DESCRIPTOR = 'org.anbox.webrtc.IDataProxyService@1.0'
PLATFORM_API_SERVICE = 'org.anbox.platform.IPlatformAPI'  # docs/protocol.md section 12
PLATFORM_API_DESCRIPTOR = 'org.anbox.platform.IPlatformAPI@1.0'
MANAGER_SERVICE = 'manager'
MANAGER_DESCRIPTOR = 'android.os.IServiceManager'

FIRST_CALL_TRANSACTION = 1
INTERFACE_TRANSACTION = 0x5F4E5446  # '_NTF'
PING_TRANSACTION = 0x5F504E47  # '_PNG'
FIRST_BUILTIN_CODE = 0x5F000000  # codes at or above this carry no interface token
FLAG_ONEWAY = 1

REPLY_MODE_DESCRIPTOR = 0
REPLY_MODE_STREAM = 1

MAX_FRAME_BODY = 1048576
MAX_FDS = 253

BINDER_TYPE_FD = 0x66642A85
FD_OBJECT_FLAGS = 0x17F
FD_OBJECT_SIZE = 24

STRICT_MODE_PENALTY_GATHER = 0x80000000  # the policy word of the document's example
WORK_SOURCE_UNSET = -1

LAYOUTS = ('api28', 'api29', 'api30')

STATUS = {
    'OK': 0,
    'PERMISSION_DENIED': -1,
    'NAME_NOT_FOUND': -2,
    'WOULD_BLOCK': -11,
    'NO_MEMORY': -12,
    'BAD_VALUE': -22,
    'DEAD_OBJECT': -32,
    'INVALID_OPERATION': -38,
    'NOT_ENOUGH_DATA': -61,
    'UNKNOWN_TRANSACTION': -74,
    'UNKNOWN_ERROR': -2147483648,
    'BAD_TYPE': -2147483647,
    'FAILED_TRANSACTION': -2147483646,
    'FDS_NOT_ALLOWED': -2147483641,
    'UNEXPECTED_NULL': -2147483640,
}
STATUS_NAMES = {value: name for name, value in STATUS.items()}


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f'STATUS_{status}')


class ClientError(Exception):
    """A local failure (not a reply from the daemon). `code` is a stable string."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class ProtocolError(ClientError):
    def __init__(self, message: str) -> None:
        super().__init__('PROTOCOL_ERROR', message)


class ReplyError(Exception):
    """The daemon answered with a non-OK status."""

    def __init__(self, reply: 'Reply') -> None:
        super().__init__(f'{reply.error_code or status_name(reply.status)}: {reply.message}')
        self.reply = reply


# ---------------------------------------------------------------------------------------------
# Protobuf wire format (section 3)
# ---------------------------------------------------------------------------------------------

WT_VARINT = 0
WT_I64 = 1
WT_LEN = 2
WT_SGROUP = 3
WT_EGROUP = 4
WT_I32 = 5

U64_MASK = (1 << 64) - 1
U32_MASK = (1 << 32) - 1


def encode_varint(value: int) -> bytes:
    if value < 0:
        # Negative int32/int64 values are sent as their 64-bit two's complement (10 bytes).
        value &= U64_MASK
    if value > U64_MASK:
        raise ValueError(f'varint out of range: {value}')
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    for i in range(10):
        if pos >= len(buf):
            raise ProtocolError('truncated varint')
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & U64_MASK, pos
        shift += 7
    raise ProtocolError('varint longer than 10 bytes')


def zigzag_encode32(n: int) -> int:
    if not -(1 << 31) <= n < (1 << 31):
        raise ValueError(f'sint32 out of range: {n}')
    return ((n << 1) ^ (n >> 31)) & U32_MASK


def zigzag_decode(v: int) -> int:
    return (v >> 1) ^ -(v & 1)


def to_uint32(v: int) -> int:
    # proto3 decoders truncate a varint to 32 bits for uint32 fields.
    return v & U32_MASK


def to_sint32(v: int) -> int:
    return zigzag_decode(v & U32_MASK)


def key(field_number: int, wire_type: int) -> bytes:
    return encode_varint((field_number << 3) | wire_type)


def iter_fields(buf: bytes) -> Iterator[Tuple[int, int, object]]:
    """Yields (field number, wire type, value): int for varint/fixed, bytes for length-delimited.

    Groups (wire types 3/4, long deprecated) are skipped whole and not yielded."""
    pos = 0
    end = len(buf)
    while pos < end:
        k, pos = decode_varint(buf, pos)
        number, wire_type = k >> 3, k & 7
        if number == 0:
            raise ProtocolError('field number 0')
        if wire_type == WT_VARINT:
            value, pos = decode_varint(buf, pos)
            yield number, wire_type, value
        elif wire_type == WT_LEN:
            length, pos = decode_varint(buf, pos)
            if length > end - pos:
                raise ProtocolError('length-delimited field runs past the end')
            yield number, wire_type, bytes(buf[pos:pos + length])
            pos += length
        elif wire_type == WT_I64:
            if pos + 8 > end:
                raise ProtocolError('truncated fixed64')
            yield number, wire_type, struct.unpack_from('<Q', buf, pos)[0]
            pos += 8
        elif wire_type == WT_I32:
            if pos + 4 > end:
                raise ProtocolError('truncated fixed32')
            yield number, wire_type, struct.unpack_from('<I', buf, pos)[0]
            pos += 4
        elif wire_type == WT_SGROUP:
            pos = _skip_group(buf, pos, number)
        else:
            raise ProtocolError(f'unexpected wire type {wire_type} for field {number}')


def _skip_group(buf: bytes, pos: int, group_number: int) -> int:
    while True:
        k, pos = decode_varint(buf, pos)
        number, wire_type = k >> 3, k & 7
        if wire_type == WT_EGROUP:
            if number != group_number:
                raise ProtocolError('mismatched end group')
            return pos
        if wire_type == WT_VARINT:
            _, pos = decode_varint(buf, pos)
        elif wire_type == WT_LEN:
            length, pos = decode_varint(buf, pos)
            pos += length
        elif wire_type == WT_I64:
            pos += 8
        elif wire_type == WT_I32:
            pos += 4
        elif wire_type == WT_SGROUP:
            pos = _skip_group(buf, pos, number)
        else:
            raise ProtocolError(f'bad wire type {wire_type} inside a group')
        if pos > len(buf):
            raise ProtocolError('truncated group')


def _expect_wire(number: int, wire_type: int, wanted: int, message: str) -> None:
    if wire_type != wanted:
        raise ProtocolError(f'{message} field {number} has wire type {wire_type}, expected {wanted}')


def _decode_repeated_uint64(wire_type: int, value: object, into: List[int], where: str) -> None:
    if wire_type == WT_LEN:  # packed
        assert isinstance(value, bytes)
        pos = 0
        while pos < len(value):
            v, pos = decode_varint(value, pos)
            into.append(v)
    elif wire_type == WT_VARINT:  # unpacked
        assert isinstance(value, int)
        into.append(value)
    else:
        raise ProtocolError(f'{where}: repeated uint64 with wire type {wire_type}')


def _encode_packed_uint64(number: int, values: Sequence[int]) -> bytes:
    if not values:
        return b''
    payload = b''.join(encode_varint(v) for v in values)
    return key(number, WT_LEN) + encode_varint(len(payload)) + payload


def _encode_bytes(number: int, value: bytes) -> bytes:
    if not value:
        return b''
    return key(number, WT_LEN) + encode_varint(len(value)) + value


def _encode_uvarint(number: int, value: int) -> bytes:
    if not value:
        return b''
    return key(number, WT_VARINT) + encode_varint(value)


def _utf8(value: bytes, where: str) -> str:
    try:
        return value.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ProtocolError(f'{where} is not UTF-8: {exc}') from None


@dataclass
class Transaction:
    id: int = 0
    service: str = ''
    code: int = 0
    flags: int = 0
    data: bytes = b''
    object_offsets: List[int] = field(default_factory=list)
    reply_mode: int = REPLY_MODE_DESCRIPTOR

    def encode(self) -> bytes:
        return b''.join([
            _encode_uvarint(1, self.id),
            _encode_bytes(2, self.service.encode('utf-8')),
            _encode_uvarint(3, self.code),
            _encode_uvarint(4, self.flags),
            _encode_bytes(5, self.data),
            _encode_packed_uint64(6, self.object_offsets),
            _encode_uvarint(7, self.reply_mode),
        ])

    @classmethod
    def decode(cls, buf: bytes) -> 'Transaction':
        t = cls()
        for number, wt, value in iter_fields(buf):
            if number == 1:
                _expect_wire(number, wt, WT_VARINT, 'Transaction')
                t.id = to_uint32(value)  # type: ignore[arg-type]
            elif number == 2:
                _expect_wire(number, wt, WT_LEN, 'Transaction')
                t.service = _utf8(value, 'Transaction.service')  # type: ignore[arg-type]
            elif number == 3:
                _expect_wire(number, wt, WT_VARINT, 'Transaction')
                t.code = to_uint32(value)  # type: ignore[arg-type]
            elif number == 4:
                _expect_wire(number, wt, WT_VARINT, 'Transaction')
                t.flags = to_uint32(value)  # type: ignore[arg-type]
            elif number == 5:
                _expect_wire(number, wt, WT_LEN, 'Transaction')
                t.data = value  # type: ignore[assignment]
            elif number == 6:
                _decode_repeated_uint64(wt, value, t.object_offsets, 'Transaction.object_offsets')
            elif number == 7:
                _expect_wire(number, wt, WT_VARINT, 'Transaction')
                t.reply_mode = to_uint32(value)  # type: ignore[arg-type]  (enum: int32 on the wire)
        return t


@dataclass
class Reply:
    id: int = 0
    status: int = 0
    data: bytes = b''
    object_offsets: List[int] = field(default_factory=list)
    fd_count: int = 0
    message: str = ''
    error_code: str = ''

    def encode(self) -> bytes:
        status = b''
        if self.status:
            status = key(2, WT_VARINT) + encode_varint(zigzag_encode32(self.status))
        return b''.join([
            _encode_uvarint(1, self.id),
            status,
            _encode_bytes(3, self.data),
            _encode_packed_uint64(4, self.object_offsets),
            _encode_uvarint(5, self.fd_count),
            _encode_bytes(6, self.message.encode('utf-8')),
            _encode_bytes(7, self.error_code.encode('utf-8')),
        ])

    @classmethod
    def decode(cls, buf: bytes) -> 'Reply':
        r = cls()
        for number, wt, value in iter_fields(buf):
            if number == 1:
                _expect_wire(number, wt, WT_VARINT, 'Reply')
                r.id = to_uint32(value)  # type: ignore[arg-type]
            elif number == 2:
                _expect_wire(number, wt, WT_VARINT, 'Reply')
                r.status = to_sint32(value)  # type: ignore[arg-type]
            elif number == 3:
                _expect_wire(number, wt, WT_LEN, 'Reply')
                r.data = value  # type: ignore[assignment]
            elif number == 4:
                _decode_repeated_uint64(wt, value, r.object_offsets, 'Reply.object_offsets')
            elif number == 5:
                _expect_wire(number, wt, WT_VARINT, 'Reply')
                r.fd_count = to_uint32(value)  # type: ignore[arg-type]
            elif number == 6:
                _expect_wire(number, wt, WT_LEN, 'Reply')
                r.message = _utf8(value, 'Reply.message')  # type: ignore[arg-type]
            elif number == 7:
                _expect_wire(number, wt, WT_LEN, 'Reply')
                r.error_code = _utf8(value, 'Reply.error_code')  # type: ignore[arg-type]
        return r

    @property
    def ok(self) -> bool:
        return self.status == 0


def encode_frame_body(message: object) -> bytes:
    if isinstance(message, Transaction):
        inner, number = message.encode(), 1
    elif isinstance(message, Reply):
        inner, number = message.encode(), 2
    else:
        raise TypeError('a Frame holds a Transaction or a Reply')
    # A oneof member is always written, even when empty.
    return key(number, WT_LEN) + encode_varint(len(inner)) + inner


def encode_frame(message: object) -> bytes:
    body = encode_frame_body(message)
    if len(body) > MAX_FRAME_BODY:
        raise ValueError(f'frame body of {len(body)} bytes exceeds {MAX_FRAME_BODY}')
    return struct.pack('<I', len(body)) + body


def decode_frame_body(body: bytes) -> object:
    """Returns the Transaction or Reply inside a Frame body (last oneof member wins)."""
    result: object = None
    for number, wt, value in iter_fields(body):
        if number == 1:
            _expect_wire(number, wt, WT_LEN, 'Frame')
            result = Transaction.decode(value)  # type: ignore[arg-type]
        elif number == 2:
            _expect_wire(number, wt, WT_LEN, 'Frame')
            result = Reply.decode(value)  # type: ignore[arg-type]
    if result is None:
        raise ProtocolError('empty frame: neither transaction nor reply is set')
    return result


# ---------------------------------------------------------------------------------------------
# Parcels (section 4)
# ---------------------------------------------------------------------------------------------


def align4(n: int) -> int:
    return (n + 3) & ~3


def pack_chars(tag: str) -> int:
    """libbinder's B_PACK_CHARS: 'SYST' -> 0x53595354, written LE as the bytes 54 53 59 53."""
    raw = tag.encode('ascii')
    if len(raw) != 4:
        raise ValueError('a header tag has 4 characters')
    return (raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]


class ParcelWriter:
    def __init__(self) -> None:
        self._buf = bytearray()

    def write_int32(self, value: int) -> 'ParcelWriter':
        self._buf += struct.pack('<i', value)
        return self

    def write_uint32(self, value: int) -> 'ParcelWriter':
        self._buf += struct.pack('<I', value)
        return self

    def write_string16(self, value: Optional[str]) -> 'ParcelWriter':
        if value is None:
            return self.write_int32(-1)
        units = value.encode('utf-16-le')  # surrogate pairs count as two code units
        self.write_int32(len(units) // 2)
        payload = units + b'\x00\x00'
        self._buf += payload + b'\x00' * (align4(len(payload)) - len(payload))
        return self

    def write_string16_array(self, values: Optional[Sequence[Optional[str]]]) -> 'ParcelWriter':
        if values is None:
            return self.write_int32(-1)
        self.write_int32(len(values))
        for v in values:
            self.write_string16(v)
        return self

    def write_interface_token(self, descriptor: str, layout: str = 'api30', *,
                              policy: int = STRICT_MODE_PENALTY_GATHER,
                              work_source: int = WORK_SOURCE_UNSET,
                              header: str = 'SYST') -> 'ParcelWriter':
        if layout not in LAYOUTS:
            raise ValueError(f'unknown interface-token layout {layout!r} (one of {", ".join(LAYOUTS)})')
        self.write_uint32(policy & U32_MASK)
        if layout in ('api29', 'api30'):
            self.write_int32(work_source)
        if layout == 'api30':
            self.write_uint32(pack_chars(header))
        return self.write_string16(descriptor)

    def bytes(self) -> bytes:
        return bytes(self._buf)


class ParcelReader:
    def __init__(self, data: bytes, object_offsets: Sequence[int] = ()) -> None:
        self.data = data
        self.pos = 0
        self.object_offsets = set(object_offsets)
        self.last_fd_flags: Optional[int] = None

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ProtocolError(f'parcel truncated: need {n} bytes at {self.pos}, have {len(self.data) - self.pos}')

    def read_int32(self) -> int:
        self._need(4)
        (v,) = struct.unpack_from('<i', self.data, self.pos)
        self.pos += 4
        return v

    def read_uint32(self) -> int:
        self._need(4)
        (v,) = struct.unpack_from('<I', self.data, self.pos)
        self.pos += 4
        return v

    def read_uint64(self) -> int:
        self._need(8)
        (v,) = struct.unpack_from('<Q', self.data, self.pos)
        self.pos += 8
        return v

    def read_string16(self) -> Optional[str]:
        n = self.read_int32()
        if n == -1:
            return None
        if n < 0:
            raise ProtocolError(f'negative String16 length {n}')
        size = align4(2 * n + 2)
        self._need(size)
        raw = self.data[self.pos:self.pos + 2 * n]
        if self.data[self.pos + 2 * n:self.pos + 2 * n + 2] != b'\x00\x00':
            raise ProtocolError('String16 without its terminator')
        self.pos += size
        return raw.decode('utf-16-le', errors='surrogatepass')

    def read_string16_array(self) -> Optional[List[Optional[str]]]:
        count = self.read_int32()
        if count == -1:
            return None
        if count < 0:
            raise ProtocolError(f'negative array length {count}')
        return [self.read_string16() for _ in range(count)]

    def read_fd_object(self) -> int:
        """Reads a flat fd object and returns the descriptor *index* it holds (section 4)."""
        if self.pos not in self.object_offsets:
            raise ProtocolError(f'no object is listed at offset {self.pos} (object_offsets {sorted(self.object_offsets)})')
        self._need(FD_OBJECT_SIZE)
        obj_type = self.read_uint32()
        flags = self.read_uint32()
        index = self.read_uint32()
        self.read_uint32()  # pad
        self.read_uint64()  # cookie
        if obj_type != BINDER_TYPE_FD:
            raise ProtocolError(f'object type 0x{obj_type:08x} is not BINDER_TYPE_FD')
        self.last_fd_flags = flags
        return index


# ---------------------------------------------------------------------------------------------
# The connection (sections 1, 2, 3 "Descriptors", 6)
# ---------------------------------------------------------------------------------------------


def default_service_socket() -> str:
    env = os.environ.get('ANBOX_OOB_SERVICE_SOCKET')
    if env:
        return env
    runtime = os.environ.get('XDG_RUNTIME_DIR')
    if runtime:
        return os.path.join(runtime, 'anbox', 'data-proxy.sock')
    uid = os.getuid()
    run_user = f'/run/user/{uid}'
    if os.path.isdir(run_user) and os.access(run_user, os.W_OK):
        return os.path.join(run_user, 'anbox', 'data-proxy.sock')
    import tempfile
    return os.path.join(tempfile.gettempdir(), f'anbox-oob-{uid}', 'data-proxy.sock')


@dataclass
class ReceivedReply:
    reply: Reply
    fds: List[int]  # the reply's descriptors, in SCM_RIGHTS order; the caller owns them


class ServiceConnection:
    def __init__(self, path: str, timeout: Optional[float] = 10.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ClientError('SERVICE_UNAVAILABLE', f'cannot connect to {path}: {exc.strerror or exc}') from None
        self._buf = bytearray()
        self._fds: 'collections.deque[int]' = collections.deque()
        self._next_id = 1

    # -- lifecycle
    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popleft())
        self.sock.close()

    def __enter__(self) -> 'ServiceConnection':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending
    def next_id(self) -> int:
        i = self._next_id
        self._next_id = (self._next_id % U32_MASK) + 1  # never 0
        return i

    def send_transaction(self, t: Transaction, trailing: bytes = b'') -> None:
        self.sock.sendall(encode_frame(t) + trailing)

    # -- receiving
    def _recv_some(self) -> None:
        flags = getattr(socket, 'MSG_CMSG_CLOEXEC', 0)
        try:
            data, fds, msg_flags, _ = socket.recv_fds(self.sock, 65536, MAX_FDS, flags)
        except socket.timeout:
            raise ClientError('TIMEOUT', 'no reply from the daemon in time') from None
        except ConnectionResetError:
            raise ClientError('CONNECTION_LOST', 'the daemon reset the connection', STATUS['DEAD_OBJECT']) from None
        self._fds.extend(fds)
        if msg_flags & socket.MSG_CTRUNC:
            self.close()
            raise ClientError('PROTOCOL_ERROR', 'descriptors were lost (MSG_CTRUNC); connection closed')
        if not data:
            if fds:
                return
            raise ClientError('CONNECTION_LOST', 'the daemon closed the connection (DEAD_OBJECT)', STATUS['DEAD_OBJECT'])
        self._buf += data

    def read_reply(self) -> ReceivedReply:
        while len(self._buf) < 4:
            self._recv_some()
        (n,) = struct.unpack_from('<I', self._buf, 0)
        if n > MAX_FRAME_BODY:
            raise ProtocolError(f'reply frame announces {n} bytes (> {MAX_FRAME_BODY})')
        while len(self._buf) < 4 + n:
            self._recv_some()
        body = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        message = decode_frame_body(body)
        if not isinstance(message, Reply):
            raise ProtocolError('the daemon sent a Transaction frame')
        if message.fd_count > MAX_FDS:
            raise ProtocolError(f'fd_count {message.fd_count} > {MAX_FDS}')
        if message.fd_count > len(self._fds):
            raise ProtocolError(f'reply announces {message.fd_count} descriptors, only {len(self._fds)} arrived')
        fds = [self._fds.popleft() for _ in range(message.fd_count)]
        return ReceivedReply(message, fds)

    def transact(self, service: str, code: int, data: bytes, *, flags: int = 0,
                 reply_mode: int = REPLY_MODE_DESCRIPTOR, trailing: bytes = b'') -> ReceivedReply:
        tid = self.next_id()
        self.send_transaction(Transaction(id=tid, service=service, code=code, flags=flags,
                                          data=data, reply_mode=reply_mode), trailing)
        received = self.read_reply()
        if received.reply.id != tid:
            for fd in received.fds:
                os.close(fd)
            if received.reply.id == 0 and not received.reply.ok:
                raise ReplyError(received.reply)
            raise ProtocolError(f'reply id {received.reply.id} does not match transaction id {tid}')
        return received

    def take_leftover(self) -> bytes:
        """Bytes already read past the last frame (stream mode: the channel's first bytes)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    # -- the service's methods
    def connect_channel_fd(self, channel: str, layout: str = 'api30') -> Tuple[int, int, Reply]:
        """connect(channel) in DESCRIPTOR mode: returns (fd, fd object index, reply)."""
        parcel = ParcelWriter().write_interface_token(DATA_PROXY_DESCRIPTOR, layout).write_string16(channel).bytes()
        received = self.transact(DATA_PROXY_SERVICE, FIRST_CALL_TRANSACTION, parcel)
        reply = received.reply
        if not reply.ok:
            for fd in received.fds:
                os.close(fd)
            raise ReplyError(reply)
        try:
            reader = ParcelReader(reply.data, reply.object_offsets)
            index = reader.read_fd_object()
            if index >= len(received.fds):
                raise ProtocolError(f'fd object index {index} but the reply carried {len(received.fds)} descriptors')
        except BaseException:
            for fd in received.fds:
                os.close(fd)
            raise
        fd = received.fds[index]
        for other in received.fds:
            if other != fd:
                os.close(other)
        return fd, index, reply

    def connect_channel(self, channel: str, layout: str = 'api30') -> socket.socket:
        fd, _, _ = self.connect_channel_fd(channel, layout)
        return socket.socket(fileno=fd)

    def connect_stream(self, channel: str, layout: str = 'api30', early: bytes = b'') -> Tuple[socket.socket, bytes]:
        """connect(channel) in STREAM mode. Returns (the IPC socket, now the channel; bytes of the
        channel already read). After this call the ServiceConnection must not be used for frames."""
        parcel = ParcelWriter().write_interface_token(DATA_PROXY_DESCRIPTOR, layout).write_string16(channel).bytes()
        received = self.transact(DATA_PROXY_SERVICE, FIRST_CALL_TRANSACTION, parcel,
                                 reply_mode=REPLY_MODE_STREAM, trailing=early)
        for fd in received.fds:
            os.close(fd)
        if not received.reply.ok:
            raise ReplyError(received.reply)
        if received.fds:
            raise ProtocolError('a stream-mode reply carried descriptors')
        return self.sock, self.take_leftover()

    def ping(self, service: str = DATA_PROXY_SERVICE) -> int:
        received = self.transact(service, PING_TRANSACTION, b'')
        if not received.reply.ok:
            raise ReplyError(received.reply)
        return ParcelReader(received.reply.data).read_int32()

    def send_message(self, msg_type: str, data: str, layout: str = 'api30') -> Tuple[bool, Optional[str], Optional[str]]:
        """Out-of-band data v1 (section 12): (sent, code, reason); code and reason are None when sent."""
        request = (ParcelWriter().write_interface_token(PLATFORM_API_DESCRIPTOR, layout)
                   .write_string16(msg_type).write_string16(data).bytes())
        received = self.transact(PLATFORM_API_SERVICE, FIRST_CALL_TRANSACTION, request)
        if not received.reply.ok:
            raise ReplyError(received.reply)
        reader = ParcelReader(received.reply.data)
        exception = reader.read_int32()
        if exception != 0:
            raise ClientError('PROTOCOL_ERROR', f'sendMessage replied with exception code {exception}')
        sent = reader.read_int32() != 0
        if sent:
            return True, None, None
        return False, reader.read_string16(), reader.read_string16()

    def interface_descriptor(self, service: str = DATA_PROXY_SERVICE) -> Optional[str]:
        received = self.transact(service, INTERFACE_TRANSACTION, b'')
        if not received.reply.ok:
            raise ReplyError(received.reply)
        return ParcelReader(received.reply.data).read_string16()

    # -- the service manager (section 5): AIDL replies, int32 exception code 0 then the value
    def _manager_call(self, code: int, write_args) -> ParcelReader:
        parcel = write_args(ParcelWriter().write_interface_token(MANAGER_DESCRIPTOR)).bytes()
        received = self.transact(MANAGER_SERVICE, code, parcel)
        if not received.reply.ok:
            raise ReplyError(received.reply)
        reader = ParcelReader(received.reply.data)
        exception = reader.read_int32()
        if exception != 0:
            raise ProtocolError(f'the service manager replied with exception code {exception}')
        return reader

    def get_service(self, name: str) -> Optional[str]:
        """getService(name): the service's descriptor, or None when there is no such service."""
        return self._manager_call(FIRST_CALL_TRANSACTION, lambda w: w.write_string16(name)).read_string16()

    def list_services(self, with_argument: bool = True) -> Optional[List[Optional[str]]]:
        """listServices(dumpPriority); the argument-less form of Android 8 and earlier when with_argument is False."""
        return self._manager_call(FIRST_CALL_TRANSACTION + 3, lambda w: w.write_int32(15) if with_argument else w).read_string16_array()

    def refused_then_closed(self, reply_mode: int) -> Tuple[Reply, bool]:
        """A PING with this reply_mode, then a second PING in the same write: the first reply, and
        whether the daemon closed the connection instead of answering the second (section 7)."""
        first = Transaction(id=self.next_id(), service=DATA_PROXY_SERVICE, code=PING_TRANSACTION, reply_mode=reply_mode)
        second = Transaction(id=self.next_id(), service=DATA_PROXY_SERVICE, code=PING_TRANSACTION)
        self.sock.sendall(encode_frame(first) + encode_frame(second))
        reply = self.read_reply().reply
        try:
            self.read_reply()
        except ClientError as exc:
            if exc.code == 'CONNECTION_LOST':
                return reply, True
            raise
        return reply, False


# ---------------------------------------------------------------------------------------------
# Channel I/O helpers
# ---------------------------------------------------------------------------------------------


def read_exactly(sock: socket.socket, want: int, timeout: float, already: bytes = b'') -> bytes:
    """Reads until `want` bytes are in (or EOF / timeout, which raise)."""
    buf = bytearray(already)
    deadline = time.monotonic() + timeout
    while len(buf) < want:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError('TIMEOUT', f'got {len(buf)} of {want} bytes from the channel in {timeout}s: {bytes(buf)!r}')
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(want - len(buf))
        except socket.timeout:
            continue
        if not chunk:
            raise ClientError('CONNECTION_LOST', f'channel closed after {len(buf)} of {want} bytes: {bytes(buf)!r}')
        buf += chunk
    return bytes(buf)


def read_one_chunk(sock: socket.socket, timeout: float, already: bytes = b'') -> bytes:
    if already:
        return already
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return b''


def describe_fd(fd: int) -> dict:
    st = os.fstat(fd)
    info = {'fd_blocking': os.get_blocking(fd), 'fd_is_socket': stat.S_ISSOCK(st.st_mode)}
    if info['fd_is_socket']:
        s = socket.socket(fileno=os.dup(fd))
        try:
            info['fd_family'] = s.family.name
            info['fd_type'] = s.type.name
        finally:
            s.close()
    return info


# ---------------------------------------------------------------------------------------------
# Self test: the codec against the byte-by-byte examples of section 8
# ---------------------------------------------------------------------------------------------

DOC_CONNECT_FOO = bytes.fromhex(  # transcribed from section 8
    '99 00 00 00'
    '0a 96 01'
    '08 01'
    '12 22'
    '6f 72 67 2e 61 6e 62 6f 78 2e 77 65 62 72 74 63 2e 49 44 61 74 61 50 72 6f 78 79 53 65 72 76 69 63 65'
    '18 01'
    '2a 6c'
    '00 00 00 80'
    'ff ff ff ff'
    '54 53 59 53'
    '26 00 00 00'
    '6f 00 72 00 67 00 2e 00 61 00 6e 00 62 00 6f 00 78 00 2e 00 77 00 65 00 62 00 72 00 74 00 63 00'
    '2e 00 49 00 44 00 61 00 74 00 61 00 50 00 72 00 6f 00 78 00 79 00 53 00 65 00 72 00 76 00 69 00'
    '63 00 65 00 40 00 31 00 2e 00 30 00'
    '00 00 00 00'
    '03 00 00 00'
    '66 00 6f 00 6f 00'
    '00 00'
)
DOC_CONNECT_OK = bytes.fromhex(
    '23000000' '1221' '0801' '1a18' '852a6466' '7f010000' '00000000' '00000000' '0000000000000000'
    '220100' '2801'
)
DOC_CONNECT_NOT_FOUND = bytes.fromhex(
    '31000000' '122f' '0801' '1003'
    '3216' '6e6f2064617461206368616e6e656c20226e6f706522'
    '3a11' '4348414e4e454c5f4e4f545f464f554e44'
)
DOC_STREAM_OK = bytes.fromhex('04000000' '1202' '0802')


# Section 12: sendMessage("greeting", "hi"), 124 bytes of Parcel.
DOC_SEND_MESSAGE = bytes.fromhex(
    '00000080' 'ffffffff' '54535953'
    '23000000' + '00'.join(f'{ord(c):02x}' for c in 'org.anbox.platform.IPlatformAPI@1.0') + '00' '0000'
    '08000000' '6700720065006500740069006e006700' '00000000'
    '02000000' '68006900' '00000000')


def selftest() -> List[str]:
    failures: List[str] = []

    def check(name: str, cond: bool, detail: str = '') -> None:
        if not cond:
            failures.append(f'{name}: {detail}')

    # Varints and zigzag.
    check('varint 300', encode_varint(300) == b'\xac\x02', encode_varint(300).hex())
    check('varint 150', encode_varint(150) == b'\x96\x01')
    for n, z in ((0, 0), (-1, 1), (1, 2), (-2, 3), (2147483647, 4294967294), (-2147483648, 4294967295)):
        check(f'zigzag {n}', zigzag_encode32(n) == z and to_sint32(z) == n, f'{zigzag_encode32(n)}')

    # Section 8, the connect transaction.
    parcel = ParcelWriter().write_interface_token(DATA_PROXY_DESCRIPTOR, 'api30').write_string16('foo').bytes()
    check('doc parcel length', len(parcel) == 108, str(len(parcel)))
    frame = encode_frame(Transaction(id=1, service=DATA_PROXY_SERVICE, code=1, data=parcel))
    check('doc connect frame', frame == DOC_CONNECT_FOO, f'\n ours {frame.hex()}\n doc  {DOC_CONNECT_FOO.hex()}')
    t = decode_frame_body(DOC_CONNECT_FOO[4:])
    check('doc connect decode', isinstance(t, Transaction) and t.service == DATA_PROXY_SERVICE and t.data == parcel)

    # The other two layouts.
    p28 = ParcelWriter().write_interface_token('x', 'api28').bytes()
    check('api28 token', p28 == bytes.fromhex('00000080' '01000000' '78000000'), p28.hex())
    p29 = ParcelWriter().write_interface_token('x', 'api29').bytes()
    check('api29 token', p29 == bytes.fromhex('00000080' 'ffffffff' '01000000' '78000000'), p29.hex())

    # String16 sizes: 4 + align4(2N + 2).
    for s in ('', 'a', 'ab', 'abc', 'foo', 'é\U0001F600'):
        b = ParcelWriter().write_string16(s).bytes()
        n = len(s.encode('utf-16-le')) // 2
        check(f'string16 size {s!r}', len(b) == 4 + align4(2 * n + 2), str(len(b)))
        check(f'string16 roundtrip {s!r}', ParcelReader(b).read_string16() == s)
    check('null string16', ParcelWriter().write_string16(None).bytes() == b'\xff\xff\xff\xff')

    # Section 8, the OK reply.
    r = decode_frame_body(DOC_CONNECT_OK[4:])
    check('doc ok reply', isinstance(r, Reply) and r.id == 1 and r.status == 0 and r.fd_count == 1
          and r.object_offsets == [0] and len(r.data) == 24, repr(r))
    if isinstance(r, Reply):
        check('doc ok reply re-encode', encode_frame(r) == DOC_CONNECT_OK, encode_frame(r).hex())
        check('doc fd object', ParcelReader(r.data, r.object_offsets).read_fd_object() == 0)
        try:
            ParcelReader(r.data, []).read_fd_object()
            check('unlisted object refused', False)
        except ProtocolError:
            pass

    # Section 8, the error reply.
    e = decode_frame_body(DOC_CONNECT_NOT_FOUND[4:])
    check('doc error reply', isinstance(e, Reply) and e.status == -2 and e.error_code == 'CHANNEL_NOT_FOUND'
          and e.message == 'no data channel "nope"', repr(e))
    check('doc error length', len(DOC_CONNECT_NOT_FOUND) == 53)

    # Section 8, stream mode.
    s = decode_frame_body(DOC_STREAM_OK[4:])
    check('doc stream reply', isinstance(s, Reply) and s.id == 2 and s.ok and s.fd_count == 0 and not s.data, repr(s))
    stream_t = encode_frame(Transaction(id=1, service=DATA_PROXY_SERVICE, code=1, data=parcel, reply_mode=1))
    check('doc stream transaction', stream_t[4:] == b'\x0a\x98\x01' + DOC_CONNECT_FOO[7:] + b'\x38\x01'
          and struct.unpack_from('<I', stream_t)[0] == 155, stream_t[:8].hex())

    # Unpacked object_offsets, unknown fields of every wire type, fields out of order.
    odd = (key(5, WT_VARINT) + encode_varint(1)
           + key(99, WT_I32) + b'\x01\x02\x03\x04'
           + key(4, WT_VARINT) + encode_varint(0)
           + key(98, WT_LEN) + b'\x02hi'
           + key(4, WT_VARINT) + encode_varint(48)
           + key(97, WT_I64) + b'\x00' * 8
           + key(96, WT_SGROUP) + key(1, WT_VARINT) + b'\x05' + key(96, WT_EGROUP)
           + key(4, WT_LEN) + b'\x02\x01\x02'
           + key(2, WT_VARINT) + encode_varint(zigzag_encode32(-2147483647))
           + key(1, WT_VARINT) + encode_varint(7))
    o = Reply.decode(odd)
    check('unpacked + packed + unknown', o.object_offsets == [0, 48, 1, 2] and o.fd_count == 1 and o.id == 7
          and o.status == STATUS['BAD_TYPE'], repr(o))
    check('empty frame refused', _raises(lambda: decode_frame_body(b'')))

    # Section 12, the sendMessage("greeting", "hi") example and its replies.
    send = (ParcelWriter().write_interface_token(PLATFORM_API_DESCRIPTOR, 'api30')
            .write_string16('greeting').write_string16('hi').bytes())
    check('doc sendMessage parcel', send == DOC_SEND_MESSAGE, f'\n ours {send.hex()}\n doc  {DOC_SEND_MESSAGE.hex()}')
    sent = ParcelReader(bytes.fromhex('00000000' '01000000' 'ffffffff' 'ffffffff'))
    check('doc sendMessage sent reply', sent.read_int32() == 0 and sent.read_int32() == 1
          and sent.read_string16() is None and sent.read_string16() is None)
    return failures


def _raises(fn) -> bool:  # type: ignore[no-untyped-def]
    try:
        fn()
    except ProtocolError:
        return True
    return False


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_REPLY_ERROR = 3
EXIT_LOCAL_ERROR = 4
EXIT_MISMATCH = 5


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + '\n')
    sys.stdout.flush()


def _decode_text(data: bytes) -> str:
    return data.decode('utf-8', errors='backslashreplace')


def _finish_channel(args: argparse.Namespace, result: dict, received: bytes) -> int:
    result['received'] = _decode_text(received)
    if args.expect is not None and received != args.expect.encode('utf-8'):
        result['ok'] = False
        result['error_code'] = 'UNEXPECTED_DATA'
        result['message'] = f'expected {args.expect!r}'
        emit(result)
        return EXIT_MISMATCH
    emit(result)
    return EXIT_OK


def cmd_connect(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        fd, index, reply = conn.connect_channel_fd(args.channel, args.layout)
    info = describe_fd(fd)  # before socket.socket() / settimeout change the blocking mode
    channel = socket.socket(fileno=fd)
    with channel:
        if args.send is not None:
            channel.sendall(args.send.encode('utf-8'))
        if args.expect is not None:
            received = read_exactly(channel, len(args.expect.encode('utf-8')), args.timeout)
        elif args.send is not None:
            received = read_one_chunk(channel, args.timeout)
        else:
            received = b''
    result = {'ok': True, 'received': '', 'fd_object_index': index, 'fd_count': reply.fd_count,
              'layout': args.layout, 'mode': 'descriptor', 'reply_id': reply.id}
    result.update(info)
    return _finish_channel(args, result, received)


def cmd_stream(args: argparse.Namespace) -> int:
    conn = ServiceConnection(args.service_socket, args.timeout)
    try:
        payload = args.send.encode('utf-8') if args.send is not None else b''
        early = payload if args.send_early else b''
        sock, leftover = conn.connect_stream(args.channel, args.layout, early)
        if payload and not args.send_early:
            sock.sendall(payload)
        if args.expect is not None:
            received = read_exactly(sock, len(args.expect.encode('utf-8')), args.timeout, leftover)
        elif payload:
            received = read_one_chunk(sock, args.timeout, leftover)
        else:
            received = leftover
    finally:
        conn.close()
    result = {'ok': True, 'received': '', 'layout': args.layout, 'mode': 'stream', 'send_early': bool(args.send_early)}
    return _finish_channel(args, result, received)


def cmd_ping(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        value = conn.ping(args.service)
    emit({'ok': value == 0, 'service': args.service, 'result': value})
    return EXIT_OK if value == 0 else EXIT_MISMATCH


def cmd_interface(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        descriptor = conn.interface_descriptor(args.service)
    emit({'ok': True, 'service': args.service, 'descriptor': descriptor})
    return EXIT_OK


def cmd_send_message(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        sent, code, reason = conn.send_message(args.type, args.data, args.layout)
    emit({'ok': sent, 'sent': sent, 'code': code, 'reason': reason})
    return EXIT_OK if sent else EXIT_MISMATCH


def cmd_services(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        names = conn.list_services(not args.without_argument)
    emit({'ok': True, 'names': names})
    return EXIT_OK


def cmd_get_service(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        descriptor = conn.get_service(args.name)
    emit({'ok': True, 'name': args.name, 'descriptor': descriptor})
    return EXIT_OK


def cmd_reply_mode(args: argparse.Namespace) -> int:
    with ServiceConnection(args.service_socket, args.timeout) as conn:
        reply, closed = conn.refused_then_closed(args.mode)
    emit({'ok': True, 'reply_id': reply.id, 'status': reply.status, 'error_code': reply.error_code, 'closed': closed})
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    failures = selftest()
    emit({'ok': not failures, 'failures': failures})
    return EXIT_OK if not failures else EXIT_MISMATCH


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description='Client of the anbox-oob-emulator data-proxy service (docs/protocol.md).')
    p.add_argument('--service-socket', default=None, help='the daemon socket (default: as in docs/protocol.md section 1)')
    p.add_argument('--timeout', type=float, default=10.0, help='seconds to wait for replies and channel data')
    sub = p.add_subparsers(dest='command', required=True)

    for name, fn, text in (('connect', cmd_connect, 'connect(channel), descriptor mode'),
                           ('stream', cmd_stream, 'connect(channel), stream mode')):
        c = sub.add_parser(name, help=text)
        c.add_argument('channel')
        c.add_argument('--layout', choices=LAYOUTS, default='api30', help='interface-token layout')
        c.add_argument('--send', help='text to send through the channel')
        c.add_argument('--expect', help='read until this many bytes arrived and compare')
        if name == 'stream':
            c.add_argument('--send-early', action='store_true',
                           help='send TEXT right behind the transaction, before the reply arrives')
        c.set_defaults(fn=fn)

    for name, fn, text in (('ping', cmd_ping, 'PING_TRANSACTION'),
                           ('interface', cmd_interface, 'INTERFACE_TRANSACTION')):
        c = sub.add_parser(name, help=text)
        c.add_argument('--service', default=DATA_PROXY_SERVICE)
        c.set_defaults(fn=fn)

    c = sub.add_parser('send-message', help='out-of-band data v1: sendMessage(type, data)')
    c.add_argument('type')
    c.add_argument('data')
    c.add_argument('--layout', choices=LAYOUTS, default='api30', help='interface-token layout')
    c.set_defaults(fn=cmd_send_message)

    c = sub.add_parser('services', help='listServices of the manager service')
    c.add_argument('--without-argument', action='store_true', help='send no dumpPriority (Android 8 and earlier)')
    c.set_defaults(fn=cmd_services)

    c = sub.add_parser('get-service', help='getService(NAME) of the manager service')
    c.add_argument('name')
    c.set_defaults(fn=cmd_get_service)

    c = sub.add_parser('reply-mode', help='a PING with reply_mode MODE then another PING: the reply, and whether the daemon closed')
    c.add_argument('mode', type=int)
    c.set_defaults(fn=cmd_reply_mode)

    c = sub.add_parser('selftest', help='check the codec against the examples of docs/protocol.md')
    c.set_defaults(fn=cmd_selftest)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.service_socket is None:
        args.service_socket = default_service_socket()
    try:
        return args.fn(args)
    except ReplyError as exc:
        r = exc.reply
        emit({'ok': False, 'status': r.status, 'status_name': status_name(r.status),
              'error_code': r.error_code, 'message': r.message, 'reply_id': r.id})
        return EXIT_REPLY_ERROR
    except ClientError as exc:
        out = {'ok': False, 'error_code': exc.code, 'message': exc.message}
        if exc.status is not None:
            out['status'] = exc.status
        emit(out)
        return EXIT_LOCAL_ERROR
    except OSError as exc:
        emit({'ok': False, 'error_code': 'OS_ERROR', 'message': str(exc)})
        return EXIT_LOCAL_ERROR


if __name__ == '__main__':
    sys.exit(main())
