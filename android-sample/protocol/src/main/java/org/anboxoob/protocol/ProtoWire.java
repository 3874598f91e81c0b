package org.anboxoob.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The protobuf envelope of the service socket (package {@code anbox.oob.v1}, proto/anbox_oob.proto,
 * docs/protocol.md section 3), encoded and decoded by hand: no protobuf library.
 *
 * <p>Encoding omits fields equal to their default and writes {@code repeated uint64} packed.
 * Decoding accepts fields in any order, treats missing fields as defaults, skips unknown fields
 * (wire types 0, 1, 2, 5 and groups 3/4), accepts {@code repeated uint64} packed and unpacked,
 * and keeps the low 32 bits of a {@code uint32}/{@code sint32}/enum varint.
 */
public final class ProtoWire {
    private ProtoWire() {}

    public static final int WIRE_VARINT = 0;
    public static final int WIRE_FIXED64 = 1;
    public static final int WIRE_LENGTH_DELIMITED = 2;
    public static final int WIRE_START_GROUP = 3;
    public static final int WIRE_END_GROUP = 4;
    public static final int WIRE_FIXED32 = 5;

    public static final int REPLY_MODE_DESCRIPTOR = 0;
    public static final int REPLY_MODE_STREAM = 1;
    public static final int FLAG_ONEWAY = 1;

    private static final long[] NO_OFFSETS = new long[0];
    private static final byte[] NO_BYTES = new byte[0];

    /** {@code anbox.oob.v1.Transaction}: client to daemon. */
    public static final class Transaction {
        public int id;
        public String service = "";
        public int code;
        public int flags;
        public byte[] data = NO_BYTES;
        public long[] objectOffsets = NO_OFFSETS;
        public int replyMode = REPLY_MODE_DESCRIPTOR;
    }

    /** {@code anbox.oob.v1.Reply}: daemon to client. */
    public static final class Reply {
        public int id;
        public int status;
        public byte[] data = NO_BYTES;
        public long[] objectOffsets = NO_OFFSETS;
        public int fdCount;
        public String message = "";
        public String errorCode = "";
    }

    /** {@code anbox.oob.v1.Frame}: exactly one of the two is set. */
    public static final class Frame {
        public Transaction transaction;
        public Reply reply;
    }

    // ---------------------------------------------------------------- encoding

    /** The body of a Frame holding this transaction (field 1). */
    public static byte[] encodeTransactionFrame(Transaction t) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeBytesField(out, 1, encodeTransaction(t));
        return out.toByteArray();
    }

    /** The body of a Frame holding this reply (field 2). */
    public static byte[] encodeReplyFrame(Reply r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeBytesField(out, 2, encodeReply(r));
        return out.toByteArray();
    }

    public static byte[] encodeTransaction(Transaction t) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeUint32Field(out, 1, t.id);
        writeStringField(out, 2, t.service);
        writeUint32Field(out, 3, t.code);
        writeUint32Field(out, 4, t.flags);
        if (t.data != null && t.data.length > 0) writeBytesField(out, 5, t.data);
        writePackedUint64Field(out, 6, t.objectOffsets);
        writeUint32Field(out, 7, t.replyMode);
        return out.toByteArray();
    }

    public static byte[] encodeReply(Reply r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeUint32Field(out, 1, r.id);
        if (r.status != 0) {
            writeKey(out, 2, WIRE_VARINT);
            writeVarint(out, zigzagEncode32(r.status) & 0xffffffffL);
        }
        if (r.data != null && r.data.length > 0) writeBytesField(out, 3, r.data);
        writePackedUint64Field(out, 4, r.objectOffsets);
        writeUint32Field(out, 5, r.fdCount);
        writeStringField(out, 6, r.message);
        writeStringField(out, 7, r.errorCode);
        return out.toByteArray();
    }

    public static int zigzagEncode32(int n) {
        return (n << 1) ^ (n >> 31);
    }

    public static int zigzagDecode32(int n) {
        return (n >>> 1) ^ -(n & 1);
    }

    /** Unsigned LEB128: 7 bits per byte, least significant group first. */
    public static void writeVarint(ByteArrayOutputStream out, long value) {
        while ((value & ~0x7fL) != 0) {
            out.write((int) ((value & 0x7f) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
    }

    static void writeKey(ByteArrayOutputStream out, int field, int wireType) {
        writeVarint(out, ((long) field << 3) | wireType);
    }

    private static void writeUint32Field(ByteArrayOutputStream out, int field, int value) {
        if (value == 0) return;
        writeKey(out, field, WIRE_VARINT);
        writeVarint(out, value & 0xffffffffL);
    }

    private static void writeStringField(ByteArrayOutputStream out, int field, String value) {
        if (value == null || value.isEmpty()) return;
        writeBytesField(out, field, value.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeBytesField(ByteArrayOutputStream out, int field, byte[] value) {
        writeKey(out, field, WIRE_LENGTH_DELIMITED);
        writeVarint(out, value.length);
        out.write(value, 0, value.length);
    }

    private static void writePackedUint64Field(ByteArrayOutputStream out, int field, long[] values) {
        if (values == null || values.length == 0) return;
        ByteArrayOutputStream packed = new ByteArrayOutputStream();
        for (long v : values) writeVarint(packed, v);
        writeBytesField(out, field, packed.toByteArray());
    }

    // ---------------------------------------------------------------- decoding

    /** Decodes a Frame body. */
    public static Frame decodeFrame(byte[] body) throws WireFormatException {
        if (body.length == 0) throw new WireFormatException("EMPTY_FRAME", "the frame body is empty: neither a transaction nor a reply");
        Frame frame = new Frame();
        Reader r = new Reader(body, 0, body.length);
        while (r.hasMore()) {
            long key = r.readVarint();
            int field = fieldOf(key);
            int type = (int) (key & 7);
            if ((field == 1 || field == 2) && type == WIRE_LENGTH_DELIMITED) {
                Reader sub = r.readLengthDelimited();
                // A oneof: the last one on the wire wins, as in every protobuf decoder.
                if (field == 1) {
                    frame.transaction = decodeTransaction(sub);
                    frame.reply = null;
                } else {
                    frame.reply = decodeReply(sub);
                    frame.transaction = null;
                }
            } else if (field == 1 || field == 2) {
                throw wrongType("Frame", field, type);
            } else {
                r.skip(field, type);
            }
        }
        if (frame.transaction == null && frame.reply == null) {
            throw new WireFormatException("EMPTY_FRAME", "the frame holds neither a transaction (field 1) nor a reply (field 2)");
        }
        return frame;
    }

    public static Transaction decodeTransaction(byte[] bytes) throws WireFormatException {
        return decodeTransaction(new Reader(bytes, 0, bytes.length));
    }

    public static Reply decodeReply(byte[] bytes) throws WireFormatException {
        return decodeReply(new Reader(bytes, 0, bytes.length));
    }

    private static Transaction decodeTransaction(Reader r) throws WireFormatException {
        Transaction t = new Transaction();
        LongList offsets = new LongList();
        while (r.hasMore()) {
            long key = r.readVarint();
            int field = fieldOf(key);
            int type = (int) (key & 7);
            switch (field) {
                case 1: t.id = r.uint32(type, "Transaction.id"); break;
                case 2: t.service = r.string(type, "Transaction.service"); break;
                case 3: t.code = r.uint32(type, "Transaction.code"); break;
                case 4: t.flags = r.uint32(type, "Transaction.flags"); break;
                case 5: t.data = r.bytes(type, "Transaction.data"); break;
                case 6: r.repeatedUint64(type, offsets, "Transaction.object_offsets"); break;
                case 7: t.replyMode = r.uint32(type, "Transaction.reply_mode"); break;
                default: r.skip(field, type);
            }
        }
        t.objectOffsets = offsets.toArray();
        return t;
    }

    private static Reply decodeReply(Reader r) throws WireFormatException {
        Reply reply = new Reply();
        LongList offsets = new LongList();
        while (r.hasMore()) {
            long key = r.readVarint();
            int field = fieldOf(key);
            int type = (int) (key & 7);
            switch (field) {
                case 1: reply.id = r.uint32(type, "Reply.id"); break;
                case 2: reply.status = zigzagDecode32(r.uint32(type, "Reply.status")); break;
                case 3: reply.data = r.bytes(type, "Reply.data"); break;
                case 4: r.repeatedUint64(type, offsets, "Reply.object_offsets"); break;
                case 5: reply.fdCount = r.uint32(type, "Reply.fd_count"); break;
                case 6: reply.message = r.string(type, "Reply.message"); break;
                case 7: reply.errorCode = r.string(type, "Reply.error_code"); break;
                default: r.skip(field, type);
            }
        }
        reply.objectOffsets = offsets.toArray();
        return reply;
    }

    private static int fieldOf(long key) throws WireFormatException {
        long field = key >>> 3;
        if (field == 0 || field > 0x1fffffff) throw new WireFormatException("MALFORMED_FRAME", "invalid field number " + field);
        return (int) field;
    }

    private static WireFormatException wrongType(String where, int field, int type) {
        return new WireFormatException("MALFORMED_FRAME", where + " field " + field + " has wire type " + type + ", which does not fit its declared type");
    }

    /** A cursor over a slice of protobuf bytes. */
    static final class Reader {
        private final byte[] buffer;
        private int position;
        private final int end;

        Reader(byte[] buffer, int offset, int end) {
            this.buffer = buffer;
            this.position = offset;
            this.end = end;
        }

        boolean hasMore() {
            return position < end;
        }

        long readVarint() throws WireFormatException {
            long result = 0;
            for (int shift = 0; shift < 70; shift += 7) {
                if (position >= end) throw new WireFormatException("MALFORMED_FRAME", "the message ends inside a varint");
                int b = buffer[position++] & 0xff;
                if (shift == 63 && (b & 0x7e) != 0) throw new WireFormatException("MALFORMED_FRAME", "varint does not fit 64 bits");
                result |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) return result;
            }
            throw new WireFormatException("MALFORMED_FRAME", "varint longer than 10 bytes");
        }

        Reader readLengthDelimited() throws WireFormatException {
            long length = readVarint();
            if (length < 0 || length > end - position) {
                throw new WireFormatException("MALFORMED_FRAME", "length-delimited field of " + length + " bytes runs past the end of the message");
            }
            Reader sub = new Reader(buffer, position, position + (int) length);
            position += (int) length;
            return sub;
        }

        byte[] remaining() {
            return Arrays.copyOfRange(buffer, position, end);
        }

        int uint32(int type, String name) throws WireFormatException {
            if (type != WIRE_VARINT) throw new WireFormatException("MALFORMED_FRAME", name + " has wire type " + type + "; expected a varint (0)");
            return (int) readVarint(); // the low 32 bits
        }

        byte[] bytes(int type, String name) throws WireFormatException {
            if (type != WIRE_LENGTH_DELIMITED) throw new WireFormatException("MALFORMED_FRAME", name + " has wire type " + type + "; expected length-delimited (2)");
            return readLengthDelimited().remaining();
        }

        String string(int type, String name) throws WireFormatException {
            return new String(bytes(type, name), StandardCharsets.UTF_8);
        }

        void repeatedUint64(int type, LongList into, String name) throws WireFormatException {
            if (type == WIRE_VARINT) {
                into.add(readVarint());
            } else if (type == WIRE_LENGTH_DELIMITED) {
                Reader packed = readLengthDelimited();
                while (packed.hasMore()) into.add(packed.readVarint());
            } else {
                throw new WireFormatException("MALFORMED_FRAME", name + " has wire type " + type + "; expected a varint (0) or packed (2)");
            }
        }

        /** Skips the value of an unknown field. */
        void skip(int field, int type) throws WireFormatException {
            switch (type) {
                case WIRE_VARINT:
                    readVarint();
                    return;
                case WIRE_FIXED64:
                    advance(8);
                    return;
                case WIRE_LENGTH_DELIMITED:
                    readLengthDelimited();
                    return;
                case WIRE_FIXED32:
                    advance(4);
                    return;
                case WIRE_START_GROUP:
                    // A deprecated group: skip fields until the END_GROUP of the same number.
                    while (true) {
                        if (!hasMore()) throw new WireFormatException("MALFORMED_FRAME", "group " + field + " is not closed");
                        long key = readVarint();
                        int inner = fieldOf(key);
                        int innerType = (int) (key & 7);
                        if (innerType == WIRE_END_GROUP) {
                            if (inner != field) throw new WireFormatException("MALFORMED_FRAME", "group " + field + " closed as group " + inner);
                            return;
                        }
                        skip(inner, innerType);
                    }
                case WIRE_END_GROUP:
                    throw new WireFormatException("MALFORMED_FRAME", "end of group " + field + " without a start");
                default:
                    throw new WireFormatException("MALFORMED_FRAME", "invalid wire type " + type + " (field " + field + ")");
            }
        }

        private void advance(int n) throws WireFormatException {
            if (end - position < n) throw new WireFormatException("MALFORMED_FRAME", "the message ends inside a fixed-size field");
            position += n;
        }
    }

    /** A growable list of longs (no boxing). */
    static final class LongList {
        private long[] values = new long[4];
        private int size;

        void add(long v) {
            if (size == values.length) values = Arrays.copyOf(values, size * 2);
            values[size++] = v;
        }

        long[] toArray() {
            return size == 0 ? NO_OFFSETS : Arrays.copyOf(values, size);
        }
    }
}
