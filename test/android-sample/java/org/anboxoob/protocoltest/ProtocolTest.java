package org.anboxoob.protocoltest;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.anboxoob.protocol.DataProxyException;
import org.anboxoob.protocol.Frames;
import org.anboxoob.protocol.InterfaceTokenLayout;
import org.anboxoob.protocol.OobConstants;
import org.anboxoob.protocol.ParcelReader;
import org.anboxoob.protocol.ParcelWriter;
import org.anboxoob.protocol.ProtoWire;
import org.anboxoob.protocol.Status;
import org.anboxoob.protocol.StreamConnect;
import org.anboxoob.protocol.WireFormatException;

/**
 * Off-device tests of the Android sample's plain-Java protocol code (android-sample/protocol),
 * run by test/android-sample/*.test.ts. No JUnit: {@code main} exits 1 when a check fails.
 *
 * <pre>
 *   java ProtocolTest unit
 *       codec checks; prints "GOLDEN &lt;layout&gt; &lt;hex&gt;" and "CONST &lt;name&gt; &lt;value&gt;" lines for the caller
 *   java ProtocolTest daemon &lt;service socket&gt; &lt;channel&gt; &lt;missing channel&gt;
 *       stream-mode client against the real daemon (Java 16+ Unix sockets); the caller's fake
 *       platform channel greets with "welcome\n", echoes each chunk behind "echo:" and answers
 *       EOF with "bye\n" and its own EOF
 * </pre>
 */
public final class ProtocolTest {
    // binder-parcel.md's golden vectors: writeInterfaceToken(descriptor) + writeString("foo").
    static final String GOLDEN_API28 = "00004000260000006f00720067002e0061006e0062006f0078002e007700650062007200740063002e0049004400610074006100500072006f00780079005300650072007600690063006500400031002e003000000000000300000066006f006f000000";
    static final String GOLDEN_API29 = "00000080ffffffff260000006f00720067002e0061006e0062006f0078002e007700650062007200740063002e0049004400610074006100500072006f00780079005300650072007600690063006500400031002e003000000000000300000066006f006f000000";
    static final String GOLDEN_API30 = "00000080ffffffff54535953260000006f00720067002e0061006e0062006f0078002e007700650062007200740063002e0049004400610074006100500072006f00780079005300650072007600690063006500400031002e003000000000000300000066006f006f000000";
    static final String GOLDEN_FD_REPLY = "852a64667f01000005000000000000000000000000000000";

    // docs/protocol.md section 8, verbatim.
    static final String DOC_CONNECT_FRAME = "99000000" + "0a9601" + "0801"
            + "1222" + hexOf("org.anbox.webrtc.IDataProxyService") + "1801" + "2a6c" + GOLDEN_API30;
    static final String DOC_FD_REPLY_FRAME = "23000000" + "1221" + "0801"
            + "1a18" + "852a6466" + "7f010000" + "00000000" + "00000000" + "0000000000000000" + "220100" + "2801";
    static final String DOC_NOPE_REPLY_FRAME = "31000000" + "122f" + "0801" + "1003"
            + "3216" + hexOf("no data channel \"nope\"") + "3a11" + hexOf("CHANNEL_NOT_FOUND");
    static final String DOC_STREAM_OK_FRAME = "04000000" + "1202" + "0802";

    private static int checks;
    private static final List<String> failures = Collections.synchronizedList(new ArrayList<>());

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "unit";
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(60_000);
                System.out.println("FAIL watchdog: still running after 60 s");
                System.out.flush();
                Runtime.getRuntime().halt(3);
            } catch (InterruptedException ignored) {
                // finished in time
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            switch (mode) {
                case "unit": unit(); break;
                case "daemon": daemon(args[1], args[2], args[3]); break;
                default: throw new IllegalArgumentException("unknown mode " + mode);
            }
        } catch (Throwable t) {
            failures.add("uncaught " + t);
            t.printStackTrace(System.out);
        }
        synchronized (failures) {
            for (String f : failures) System.out.println("FAIL " + f);
        }
        System.out.println((failures.isEmpty() ? "PASS " : "FAILED ") + mode + ": " + checks + " checks, " + failures.size() + " failures");
        System.out.flush();
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    // ================================================================== unit

    static void unit() throws Exception {
        constants();
        goldenParcels();
        string16();
        parcelReader();
        protoWire();
        frames();
        streamConnect();
    }

    static void constants() {
        System.out.println("CONST SERVICE_NAME " + OobConstants.SERVICE_NAME);
        System.out.println("CONST INTERFACE_DESCRIPTOR " + OobConstants.INTERFACE_DESCRIPTOR);
        System.out.println("CONST ADB_REVERSE_SOCKET_NAME " + OobConstants.ADB_REVERSE_SOCKET_NAME);
        System.out.println("CONST CHANNEL_STATUS_ACTION " + OobConstants.CHANNEL_STATUS_ACTION);
        System.out.println("CONST EXTRA_EVENT " + OobConstants.EXTRA_EVENT);
        System.out.println("CONST EXTRA_DATA_CHANNEL_NAMES " + OobConstants.EXTRA_DATA_CHANNEL_NAMES);
        check(OobConstants.TRANSACTION_CONNECT == 1, "connect is FIRST_CALL_TRANSACTION (1)");
        check(InterfaceTokenLayout.forSdkInt(23) == InterfaceTokenLayout.API28, "API 23 -> api28 layout");
        check(InterfaceTokenLayout.forSdkInt(28) == InterfaceTokenLayout.API28, "API 28 -> api28 layout");
        check(InterfaceTokenLayout.forSdkInt(29) == InterfaceTokenLayout.API29, "API 29 -> api29 layout");
        check(InterfaceTokenLayout.forSdkInt(30) == InterfaceTokenLayout.API30, "API 30 -> api30 layout");
        check(InterfaceTokenLayout.forSdkInt(35) == InterfaceTokenLayout.API30, "API 35 -> api30 layout");
    }

    static void goldenParcels() {
        String[][] cases = {
            {"api28", GOLDEN_API28, "API28"}, {"api29", GOLDEN_API29, "API29"}, {"api30", GOLDEN_API30, "API30"},
        };
        for (String[] c : cases) {
            InterfaceTokenLayout layout = InterfaceTokenLayout.valueOf(c[2]);
            byte[] parcel = new ParcelWriter().writeInterfaceToken(OobConstants.INTERFACE_DESCRIPTOR, layout).writeString16("foo").toByteArray();
            System.out.println("GOLDEN " + c[0] + " " + hex(parcel));
            checkEq(hex(parcel), c[1], "golden " + c[0] + " request");
            checkEq(hex(ParcelWriter.connectRequest("foo", layout)), c[1], "connectRequest(" + c[0] + ")");
        }
        checkEq(GOLDEN_API28.length() / 2, 100, "api28 is 100 bytes");
        checkEq(GOLDEN_API29.length() / 2, 104, "api29 is 104 bytes");
        checkEq(GOLDEN_API30.length() / 2, 108, "api30 is 108 bytes");
        // Other header words are written little-endian: 'VNDR' = 52 44 4e 56.
        byte[] vendor = new ParcelWriter().writeInterfaceToken("x", InterfaceTokenLayout.API30, 0, -1, InterfaceTokenLayout.HEADER_VNDR).toByteArray();
        checkEq(hex(vendor), "00000000ffffffff52444e56" + "01000000" + "78000000", "VNDR header token");
        // Read back with the matching layout.
        for (InterfaceTokenLayout layout : InterfaceTokenLayout.values()) {
            try {
                ParcelReader r = new ParcelReader(ParcelWriter.connectRequest("foo", layout));
                checkEq(r.readInterfaceToken(layout), OobConstants.INTERFACE_DESCRIPTOR, layout + " token reads back");
                checkEq(r.readString16(), "foo", layout + " channel reads back");
                checkEq(r.remaining(), 0, layout + " nothing left");
            } catch (WireFormatException e) {
                fail(layout + " read back: " + e);
            }
        }
    }

    static void string16() {
        checkEq(hex(new ParcelWriter().writeString16(null).toByteArray()), "ffffffff", "null String16");
        checkEq(hex(new ParcelWriter().writeString16("").toByteArray()), "0000000000000000", "empty String16");
        checkEq(hex(new ParcelWriter().writeString16("a").toByteArray()), "0100000061000000", "String16 'a' (2+2 = 4)");
        checkEq(hex(new ParcelWriter().writeString16("ab").toByteArray()), "020000006100620000000000", "String16 'ab' (4+2 -> 8)");
        checkEq(hex(new ParcelWriter().writeString16("é\u20ac").toByteArray()), "02000000e900ac2000000000", "String16 BMP characters");
        // U+1F600 is a surrogate pair: two UTF-16 units.
        checkEq(hex(new ParcelWriter().writeString16("\ud83d\ude00").toByteArray()), "020000003dd800de00000000", "String16 surrogate pair");
        checkEq(hex(new ParcelWriter().writeInt32(-2).writeInt64(0x0102030405060708L).toByteArray()), "feffffff0807060504030201", "int32 and int64 LE");
        for (int n = 0; n < 9; n++) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < n; i++) s.append((char) ('a' + i));
            byte[] b = new ParcelWriter().writeString16(s.toString()).toByteArray();
            checkEq(b.length, 4 + ((2 * n + 2 + 3) & ~3), "String16 of " + n + " units has 4 + align4(2N+2) bytes");
        }
    }

    static void parcelReader() throws Exception {
        ParcelReader r = new ParcelReader(unhex("ffffffff" + "0000000000000000" + "020000003dd800de00000000" + "02000000" + "0100000061000000" + "ffffffff"));
        checkEq(r.readString16(), null, "read null String16");
        checkEq(r.readString16(), "", "read empty String16");
        checkEq(r.readString16(), "\ud83d\ude00", "read surrogate pair");
        String[] array = r.readString16Array();
        checkEq(array.length, 2, "array length");
        checkEq(array[0], "a", "array[0]");
        checkEq(array[1], null, "array[1] null");
        expectWire(() -> new ParcelReader(unhex("0100")).readInt32(), "TRUNCATED", "short int32");
        expectWire(() -> new ParcelReader(unhex("feffffff")).readString16(), "NEGATIVE_LENGTH", "String16 length -2");
        expectWire(() -> new ParcelReader(unhex("0500000061006200")).readString16(), "LENGTH_TOO_LARGE", "String16 past the end");
        expectWire(() -> new ParcelReader(unhex("0100000061006200")).readString16(), "MISSING_TERMINATOR", "String16 without NUL");
        // The fd object of binder-parcel.md: fd 5, offsets [0].
        ParcelReader fd = new ParcelReader(unhex(GOLDEN_FD_REPLY), new long[] {0});
        checkEq(fd.readFileDescriptorIndex(), 5, "fd object carries 5");
        checkEq(fd.remaining(), 0, "fd object is 24 bytes");
        expectWire(() -> new ParcelReader(unhex(GOLDEN_FD_REPLY), new long[0]).readFileDescriptorIndex(), "NOT_AN_FD_OBJECT", "fd object whose offset is not listed");
        expectWire(() -> new ParcelReader(unhex("00000000" + GOLDEN_FD_REPLY.substring(8)), new long[] {0}).readFileDescriptorIndex(), "NOT_AN_FD_OBJECT", "object of another type");
        expectWire(() -> new ParcelReader(unhex(GOLDEN_FD_REPLY.substring(0, 40)), new long[] {0}).readFileDescriptorIndex(), "TRUNCATED", "short fd object");
        // Android 14+ writes flags 0: not checked.
        checkEq(new ParcelReader(unhex("852a6466" + "00000000" + GOLDEN_FD_REPLY.substring(16)), new long[] {0}).readFileDescriptorIndex(), 5, "fd object with flags 0");
    }

    static void protoWire() throws Exception {
        // The documented connect frame, byte for byte (docs/protocol.md section 8).
        checkEq(DOC_CONNECT_FRAME.length() / 2, 157, "doc frame is 157 bytes");
        byte[] frame = StreamConnect.connectTransactionFrame("foo", InterfaceTokenLayout.API30, 1, ProtoWire.REPLY_MODE_DESCRIPTOR);
        checkEq(hex(frame), DOC_CONNECT_FRAME, "descriptor-mode connect frame = docs/protocol.md section 8");
        // Stream mode: 38 01 appended, lengths grown by 2.
        byte[] stream = StreamConnect.connectTransactionFrame("foo", InterfaceTokenLayout.API30, 1, ProtoWire.REPLY_MODE_STREAM);
        checkEq(hex(stream), "9b000000" + "0a9801" + DOC_CONNECT_FRAME.substring(14) + "3801", "stream-mode connect frame");

        ProtoWire.Transaction t = ProtoWire.decodeFrame(Arrays.copyOfRange(stream, 4, stream.length)).transaction;
        check(t != null, "stream frame decodes as a transaction");
        checkEq(t.id, 1, "transaction id");
        checkEq(t.service, OobConstants.SERVICE_NAME, "transaction service");
        checkEq(t.code, 1, "transaction code");
        checkEq(t.replyMode, 1, "transaction reply_mode");
        checkEq(hex(t.data), GOLDEN_API30, "transaction data");

        // The documented replies.
        byte[] fdReplyFrame = unhex(DOC_FD_REPLY_FRAME);
        checkEq(fdReplyFrame.length, 39, "doc fd reply is 39 bytes");
        ProtoWire.Reply fdReply = ProtoWire.decodeFrame(Arrays.copyOfRange(fdReplyFrame, 4, 39)).reply;
        checkEq(fdReply.id, 1, "fd reply id");
        checkEq(fdReply.status, 0, "fd reply status");
        checkEq(fdReply.fdCount, 1, "fd reply fd_count");
        checkEq(Arrays.toString(fdReply.objectOffsets), "[0]", "fd reply object_offsets");
        checkEq(new ParcelReader(fdReply.data, fdReply.objectOffsets).readFileDescriptorIndex(), 0, "fd reply index 0");

        byte[] nopeFrame = unhex(DOC_NOPE_REPLY_FRAME);
        checkEq(nopeFrame.length, 53, "doc nope reply is 53 bytes");
        ProtoWire.Reply nope = ProtoWire.decodeFrame(Arrays.copyOfRange(nopeFrame, 4, 53)).reply;
        checkEq(nope.status, Status.NAME_NOT_FOUND, "nope status -2");
        checkEq(nope.errorCode, "CHANNEL_NOT_FOUND", "nope error_code");
        checkEq(nope.message, "no data channel \"nope\"", "nope message");

        // Encoding a reply reproduces the documented bytes.
        ProtoWire.Reply r = new ProtoWire.Reply();
        r.id = 1;
        r.status = Status.NAME_NOT_FOUND;
        r.message = "no data channel \"nope\"";
        r.errorCode = "CHANNEL_NOT_FOUND";
        checkEq(hex(Frames.frame(ProtoWire.encodeReplyFrame(r))), DOC_NOPE_REPLY_FRAME, "encode the nope reply");
        r = new ProtoWire.Reply();
        r.id = 2;
        checkEq(hex(Frames.frame(ProtoWire.encodeReplyFrame(r))), DOC_STREAM_OK_FRAME, "encode the stream OK reply");

        // zigzag sint32
        int[][] zigzag = {{0, 0}, {-1, 1}, {1, 2}, {-2, 3}, {2147483647, -2}, {-2147483648, -1}};
        for (int[] z : zigzag) {
            checkEq(ProtoWire.zigzagEncode32(z[0]), z[1], "zigzag(" + z[0] + ")");
            checkEq(ProtoWire.zigzagDecode32(z[1]), z[0], "unzigzag(" + z[1] + ")");
        }
        for (int status : new int[] {Status.UNKNOWN_ERROR, Status.FAILED_TRANSACTION, Status.BAD_VALUE, Status.DEAD_OBJECT}) {
            ProtoWire.Reply s = new ProtoWire.Reply();
            s.id = 9;
            s.status = status;
            checkEq(ProtoWire.decodeReply(ProtoWire.encodeReply(s)).status, status, "status " + Status.name(status) + " round-trips");
        }
        // FAILED_TRANSACTION = -2147483646 -> zigzag 4294967291 = fb ff ff ff 0f
        ProtoWire.Reply failed = new ProtoWire.Reply();
        failed.status = Status.FAILED_TRANSACTION;
        checkEq(hex(ProtoWire.encodeReply(failed)), "10fbffffff0f", "FAILED_TRANSACTION on the wire");

        // Full round trip of every field.
        ProtoWire.Transaction all = new ProtoWire.Transaction();
        all.id = 0xfffffffe;
        all.service = "manager";
        all.code = 0x5f4e5446;
        all.flags = ProtoWire.FLAG_ONEWAY;
        all.data = unhex("01020304");
        all.objectOffsets = new long[] {0, 300, Long.MAX_VALUE, -1L};
        all.replyMode = 7;
        ProtoWire.Transaction back = ProtoWire.decodeFrame(ProtoWire.encodeTransactionFrame(all)).transaction;
        checkEq(back.id, 0xfffffffe, "uint32 id above 2^31");
        checkEq(back.service, "manager", "service");
        checkEq(back.code, 0x5f4e5446, "code _NTF");
        checkEq(back.flags, 1, "flags");
        checkEq(hex(back.data), "01020304", "data");
        checkEq(Arrays.toString(back.objectOffsets), Arrays.toString(all.objectOffsets), "packed uint64 offsets incl. 2^64-1");
        checkEq(back.replyMode, 7, "reply_mode");

        // Unpacked repeated uint64, mixed with packed; fields in any order; unknown fields of every
        // wire type (varint, fixed64, length-delimited, group, fixed32) skipped.
        String reply = "2801" // fd_count = 1 (before id: any order)
                + "2000" + "22020a0b" + "20ac02" // offsets: unpacked 0, packed [10, 11], unpacked 300
                + "7801" // field 15 varint
                + "81010102030405060708" // field 16 fixed64
                + "8a0103616263" // field 17 length-delimited "abc"
                + "a301" + "0805" + "ab01" + "1000" + "ac01" + "a401" // field 20 group holding a nested group 21
                + "ad0101020304" // field 21 fixed32
                + "0807"; // id = 7
        ProtoWire.Reply mixed = ProtoWire.decodeReply(unhex(reply));
        checkEq(mixed.id, 7, "id after unknown fields");
        checkEq(mixed.fdCount, 1, "fd_count before id");
        checkEq(Arrays.toString(mixed.objectOffsets), "[0, 10, 11, 300]", "unpacked and packed offsets");
        // uint32 keeps the low 32 bits of a wider varint: 2^32 + 5 -> 5.
        checkEq(ProtoWire.decodeReply(unhex("088580808010")).id, 5, "uint32 keeps the low 32 bits");
        // Unknown fields in a Frame are skipped too.
        checkEq(ProtoWire.decodeFrame(unhex("f80101" + "12020802")).reply.id, 2, "unknown field in Frame");

        expectWire(() -> ProtoWire.decodeFrame(new byte[0]), "EMPTY_FRAME", "empty body");
        expectWire(() -> ProtoWire.decodeFrame(unhex("1801")), "EMPTY_FRAME", "frame with only an unknown field");
        expectWire(() -> ProtoWire.decodeFrame(unhex("1205088080")), "MALFORMED_FRAME", "length past the end");
        expectWire(() -> ProtoWire.decodeReply(unhex("0880")), "MALFORMED_FRAME", "truncated varint");
        expectWire(() -> ProtoWire.decodeReply(unhex("0a0101")), "MALFORMED_FRAME", "id with wire type 2");
        expectWire(() -> ProtoWire.decodeReply(unhex("0f")), "MALFORMED_FRAME", "wire type 7");
        expectWire(() -> ProtoWire.decodeReply(unhex("a301")), "MALFORMED_FRAME", "unclosed group");
        // The longest valid varint (2^64 - 1) has 10 bytes; 11 bytes are malformed.
        checkEq(ProtoWire.decodeReply(unhex("08" + "ff".repeat(9) + "01")).id, -1, "10-byte varint keeps its low 32 bits");
        expectWire(() -> ProtoWire.decodeReply(unhex("08" + "ff".repeat(10) + "01")), "MALFORMED_FRAME", "varint of 11 bytes");
        expectWire(() -> ProtoWire.decodeReply(unhex("08" + "ff".repeat(9) + "02")), "MALFORMED_FRAME", "varint above 2^64");
        expectWire(() -> ProtoWire.decodeReply(unhex("0012")), "MALFORMED_FRAME", "field number 0");
    }

    static void frames() throws Exception {
        checkEq(hex(Frames.frame(unhex("aabbcc"))), "03000000aabbcc", "u32 LE header");
        checkEq(Frames.frame(new byte[Frames.MAX_BODY_SIZE]).length, Frames.MAX_BODY_SIZE + 4, "a 1 MiB body is allowed");
        try {
            Frames.frame(new byte[Frames.MAX_BODY_SIZE + 1]);
            fail("a body of 1 MiB + 1 must be refused");
        } catch (IllegalArgumentException expected) {
            checks++;
        }
        // readFrame reads exactly one frame: the bytes behind it stay in the stream.
        ByteArrayInputStream in = new ByteArrayInputStream(unhex("02000000abcd" + "00000000" + "ee"));
        checkEq(hex(Frames.readFrame(in)), "abcd", "first frame");
        checkEq(hex(Frames.readFrame(in)), "", "empty frame body");
        checkEq(in.available(), 1, "the trailing byte is not consumed");
        checkEq(Frames.readFrame(new ByteArrayInputStream(new byte[0])), null, "clean EOF -> null");
        expectEof(() -> Frames.readFrame(new ByteArrayInputStream(unhex("0200"))), "EOF inside the header");
        expectEof(() -> Frames.readFrame(new ByteArrayInputStream(unhex("02000000ab"))), "EOF inside the body");
        // The limit is checked before the body is read (here there is none).
        expectWire(() -> Frames.readFrame(new ByteArrayInputStream(unhex("01001000"))), "FRAME_TOO_LARGE", "header of 1 MiB + 1");
        checkEq(Frames.readFrame(new ByteArrayInputStream(Frames.frame(new byte[Frames.MAX_BODY_SIZE]))).length, Frames.MAX_BODY_SIZE, "read a 1 MiB body");

        // Incremental decoder: split and merged frames.
        Frames.Decoder decoder = new Frames.Decoder();
        byte[] two = unhex("01000000aa" + "02000000bbcc" + "0300");
        List<byte[]> got = new ArrayList<>();
        for (byte b : two) got.addAll(decoder.push(new byte[] {b}));
        checkEq(got.size(), 2, "byte-by-byte: two frames");
        checkEq(hex(got.get(0)) + "," + hex(got.get(1)), "aa,bbcc", "byte-by-byte bodies");
        checkEq(hex(decoder.remainder()), "0300", "remainder kept");
        got = new Frames.Decoder().push(unhex("01000000aa02000000bbcc"));
        checkEq(got.size(), 2, "two frames in one chunk");
        expectWire(() -> new Frames.Decoder().push(unhex("01001000")), "FRAME_TOO_LARGE", "decoder refuses > 1 MiB");
    }

    static void streamConnect() throws Exception {
        // OK: the handshake returns and leaves the channel bytes behind the reply untouched.
        ByteArrayInputStream in = new ByteArrayInputStream(unhex(DOC_STREAM_OK_FRAME + hexOf("channel bytes")));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StreamConnect.connect(in, out, "foo", InterfaceTokenLayout.API30, 2);
        checkEq(hex(out.toByteArray()), hex(StreamConnect.connectTransactionFrame("foo", InterfaceTokenLayout.API30, 2, ProtoWire.REPLY_MODE_STREAM)), "handshake sends one stream-mode frame");
        checkEq(new String(in.readAllBytes(), StandardCharsets.UTF_8), "channel bytes", "bytes after the reply are left for the channel");

        // Refusal: status, code and message come from the reply.
        DataProxyException e = expectRefusal(DOC_NOPE_REPLY_FRAME, 1);
        if (e != null) {
            checkEq(e.getStatus(), -2, "refusal status");
            checkEq(e.getStatusName(), "NAME_NOT_FOUND", "refusal status name");
            checkEq(e.getErrorCode(), "CHANNEL_NOT_FOUND", "refusal code");
            checkEq(e.getDetail(), "no data channel \"nope\"", "refusal message");
            check(e.getMessage().startsWith("CHANNEL_NOT_FOUND (NAME_NOT_FOUND -2): no data channel"), "exception text: " + e.getMessage());
        }
        // An error reply with id 0 (our frame did not decode) is still that error.
        ProtoWire.Reply malformed = new ProtoWire.Reply();
        malformed.status = Status.BAD_VALUE;
        malformed.errorCode = "MALFORMED_FRAME";
        e = expectRefusal(hex(Frames.frame(ProtoWire.encodeReplyFrame(malformed))), 1);
        if (e != null) checkEq(e.getErrorCode(), "MALFORMED_FRAME", "id-0 error reply");
        e = expectRefusal("", 1);
        if (e != null) checkEq(e.getErrorCode(), DataProxyException.CONNECTION_LOST, "EOF before the reply");
        e = expectRefusal("0400", 1);
        if (e != null) checkEq(e.getErrorCode(), DataProxyException.CONNECTION_LOST, "EOF inside the reply");
        e = expectRefusal(DOC_STREAM_OK_FRAME, 3);
        if (e != null) checkEq(e.getErrorCode(), DataProxyException.PROTOCOL_ERROR, "reply for another id");
        e = expectRefusal(DOC_FD_REPLY_FRAME, 1);
        if (e != null) checkEq(e.getErrorCode(), DataProxyException.PROTOCOL_ERROR, "descriptor reply to a stream connect");
        e = expectRefusal(DOC_CONNECT_FRAME, 1);
        if (e != null) checkEq(e.getErrorCode(), DataProxyException.PROTOCOL_ERROR, "transaction instead of a reply");
        e = expectRefusal("01001000", 1);
        if (e != null) checkEq(e.getErrorCode(), DataProxyException.PROTOCOL_ERROR, "oversized reply header");
    }

    static DataProxyException expectRefusal(String replyHex, int id) {
        try {
            StreamConnect.connect(new ByteArrayInputStream(unhex(replyHex)), new ByteArrayOutputStream(), "nope", InterfaceTokenLayout.API30, id);
            fail("StreamConnect accepted reply " + replyHex);
            return null;
        } catch (DataProxyException e) {
            checks++;
            return e;
        } catch (IOException e) {
            fail("StreamConnect threw " + e + " instead of DataProxyException for " + replyHex);
            return null;
        }
    }

    // ================================================================== daemon

    static void daemon(String servicePath, String channel, String missing) throws Exception {
        // 1. Stream-mode connect, then the connection is the channel.
        byte[] payload = new byte[1 << 20];
        for (int i = 0; i < payload.length; i++) payload[i] = (byte) (i % 251); // never contains "echo:"
        byte[] hello = "hello from java\n".getBytes(StandardCharsets.UTF_8);
        try (SocketChannel socket = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            socket.connect(UnixDomainSocketAddress.of(servicePath));
            InputStream in = inputOf(socket);
            OutputStream out = outputOf(socket);
            StreamConnect.connect(in, out, channel, InterfaceTokenLayout.API30, 7);
            System.out.println("STEP connected " + channel);
            // Read on a thread of its own while this one writes, as the app does: the channel
            // echoes everything, so a writer that does not read would fill both socket buffers.
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            Thread reader = new Thread(() -> {
                byte[] buffer = new byte[64 * 1024];
                try {
                    int n;
                    while ((n = in.read(buffer, 0, buffer.length)) > 0) {
                        synchronized (received) {
                            received.write(buffer, 0, n);
                        }
                    }
                } catch (IOException e) {
                    failures.add("read from the channel failed: " + e);
                }
            }, "reader");
            reader.start();
            out.write(hello);
            waitFor(received, "welcome\nhello from java\n", 10_000);
            out.write(payload);
            out.flush();
            socket.shutdownOutput(); // half-close: the channel sees EOF and answers "bye\n" + EOF
            reader.join(20_000);
            check(!reader.isAlive(), "the channel ended after the half-close");
            byte[] all;
            synchronized (received) {
                all = received.toByteArray();
            }
            String text = new String(all, StandardCharsets.ISO_8859_1);
            check(text.startsWith("welcome\n"), "the channel's greeting arrives first: " + abbreviate(text));
            check(text.endsWith("bye\n"), "the channel's goodbye arrives last: " + abbreviate(text.substring(Math.max(0, text.length() - 40))));
            if (text.startsWith("welcome\n") && text.endsWith("bye\n")) {
                String echoed = text.substring("welcome\n".length(), text.length() - "bye\n".length()).replace("echo:", "");
                byte[] expected = concat(hello, payload);
                checkEq(echoed.length(), expected.length, "every byte sent came back once");
                check(Arrays.equals(echoed.getBytes(StandardCharsets.ISO_8859_1), expected), "the echoed bytes equal the sent bytes");
            }
            System.out.println("SENT " + (hello.length + payload.length) + " " + sha256(concat(hello, payload)));
            System.out.println("RECEIVED " + all.length);
        }

        // 2. Every interface-token layout is accepted over the socket.
        for (InterfaceTokenLayout layout : InterfaceTokenLayout.values()) {
            try (SocketChannel socket = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                socket.connect(UnixDomainSocketAddress.of(servicePath));
                InputStream in = inputOf(socket);
                OutputStream out = outputOf(socket);
                StreamConnect.connect(in, out, channel, layout, 100 + layout.ordinal());
                String line = "layout " + layout + "\n";
                out.write(line.getBytes(StandardCharsets.UTF_8));
                socket.shutdownOutput();
                // The echo may come in several chunks, each behind "echo:": compare without them.
                String got = new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("echo:", "");
                checkEq(got, "welcome\n" + line + "bye\n", layout + " round trip");
                System.out.println("STEP layout " + layout + " ok");
            }
        }

        // 3. Refusals: an error reply, then the daemon closes the connection.
        refusal(servicePath, missing, Status.NAME_NOT_FOUND, "CHANNEL_NOT_FOUND");
        refusal(servicePath, "../etc", Status.BAD_VALUE, "INVALID_CHANNEL_NAME");
    }

    static void refusal(String servicePath, String name, int status, String code) throws IOException {
        try (SocketChannel socket = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            socket.connect(UnixDomainSocketAddress.of(servicePath));
            InputStream in = inputOf(socket);
            try {
                StreamConnect.connect(in, outputOf(socket), name, InterfaceTokenLayout.API30, 9);
                fail("connect(\"" + name + "\") succeeded");
            } catch (DataProxyException e) {
                System.out.println("REFUSED " + name + " status=" + e.getStatus() + " code=" + e.getErrorCode() + " message=" + e.getDetail());
                checkEq(e.getStatus(), status, name + ": status");
                checkEq(e.getErrorCode(), code, name + ": error code");
                check(!e.getDetail().isEmpty(), name + ": the reply has a message");
                checkEq(in.read(), -1, name + ": the daemon closes the connection after a refused stream connect");
            }
        }
    }

    // ================================================================== helpers

    /**
     * Streams straight over the channel. Channels.newInputStream/newOutputStream would hold the
     * channel's blocking lock during a read (JDK 17), so a blocked reader would stall the writer.
     */
    static InputStream inputOf(SocketChannel channel) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) return 0;
                return channel.read(ByteBuffer.wrap(b, off, len));
            }
        };
    }

    static OutputStream outputOf(SocketChannel channel) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
                while (buffer.hasRemaining()) channel.write(buffer);
            }
        };
    }

    static void waitFor(ByteArrayOutputStream received, String text, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            synchronized (received) {
                if (new String(received.toByteArray(), StandardCharsets.ISO_8859_1).replace("echo:", "").contains(text)) {
                    checks++;
                    return;
                }
            }
            Thread.sleep(10);
        }
        fail("did not receive " + text.trim() + " within " + timeoutMs + " ms");
    }

    interface Action {
        Object run() throws Exception;
    }

    static void expectWire(Action action, String code, String what) {
        try {
            action.run();
            fail(what + ": no error (expected " + code + ")");
        } catch (WireFormatException e) {
            checkEq(e.getErrorCode(), code, what);
        } catch (Exception e) {
            fail(what + ": " + e + " (expected WireFormatException " + code + ")");
        }
    }

    static void expectEof(Action action, String what) {
        try {
            action.run();
            fail(what + ": no error (expected EOFException)");
        } catch (EOFException e) {
            checks++;
        } catch (Exception e) {
            fail(what + ": " + e + " (expected EOFException)");
        }
    }

    static void check(boolean ok, String what) {
        checks++;
        if (!ok) failures.add(what);
    }

    static void checkEq(Object actual, Object expected, String what) {
        checks++;
        if (actual == null ? expected != null : !actual.equals(expected)) {
            failures.add(what + ": expected <" + expected + "> but got <" + actual + ">");
        }
    }

    static void fail(String what) {
        checks++;
        failures.add(what);
    }

    static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder();
        for (byte b : bytes) s.append(String.format("%02x", b & 0xff));
        return s.toString();
    }

    static byte[] unhex(String hex) {
        byte[] out = new byte[hex.length() / 2];
        for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return out;
    }

    static String hexOf(String text) {
        return hex(text.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static String sha256(byte[] data) throws Exception {
        return hex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    static String abbreviate(String s) {
        String shown = s.length() > 60 ? s.substring(0, 60) + "..." : s;
        return shown.replace("\n", "\\n");
    }
}
