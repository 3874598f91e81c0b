package org.anboxoob.protocol;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Framing of the service socket (docs/protocol.md section 2): a u32 little-endian body length
 * {@code N} (0..1 MiB), then {@code N} bytes of one protobuf {@code Frame}.
 */
public final class Frames {
    private Frames() {}

    /** The largest body a frame may announce: 1 MiB, binder's own transaction buffer size. */
    public static final int MAX_BODY_SIZE = 1048576;
    public static final int HEADER_SIZE = 4;

    /** Header + body, ready to send. */
    public static byte[] frame(byte[] body) {
        if (body.length > MAX_BODY_SIZE) {
            throw new IllegalArgumentException("frame body of " + body.length + " bytes exceeds the " + MAX_BODY_SIZE + "-byte limit");
        }
        byte[] out = new byte[HEADER_SIZE + body.length];
        writeU32(out, 0, body.length);
        System.arraycopy(body, 0, out, HEADER_SIZE, body.length);
        return out;
    }

    /** Writes one frame and flushes. */
    public static void writeFrame(OutputStream out, byte[] body) throws IOException {
        out.write(frame(body));
        out.flush();
    }

    /**
     * Reads exactly one frame and returns its body. Never reads a byte past the frame, so whatever
     * follows (stream mode: channel data) is still in {@code in} afterwards.
     *
     * @return the body, or {@code null} on a clean EOF before the first header byte
     * @throws EOFException on EOF inside a frame
     * @throws WireFormatException {@code FRAME_TOO_LARGE} when the header announces more than 1 MiB
     */
    public static byte[] readFrame(InputStream in) throws IOException {
        byte[] header = new byte[HEADER_SIZE];
        int got = readFully(in, header, 0, HEADER_SIZE);
        if (got == 0) return null;
        if (got < HEADER_SIZE) throw new EOFException("connection ended inside a frame header (" + got + " of 4 bytes)");
        long length = readU32(header, 0);
        if (length > MAX_BODY_SIZE) {
            throw new WireFormatException("FRAME_TOO_LARGE", "frame header announces " + length + " bytes; the limit is " + MAX_BODY_SIZE);
        }
        byte[] body = new byte[(int) length];
        got = readFully(in, body, 0, body.length);
        if (got < body.length) throw new EOFException("connection ended inside a frame body (" + got + " of " + body.length + " bytes)");
        return body;
    }

    /** Reads until {@code len} bytes are in or EOF; returns how many were read. */
    static int readFully(InputStream in, byte[] buffer, int off, int len) throws IOException {
        int total = 0;
        while (total < len) {
            int n = in.read(buffer, off + total, len - total);
            if (n < 0) break;
            total += n;
        }
        return total;
    }

    static void writeU32(byte[] out, int offset, int value) {
        out[offset] = (byte) value;
        out[offset + 1] = (byte) (value >>> 8);
        out[offset + 2] = (byte) (value >>> 16);
        out[offset + 3] = (byte) (value >>> 24);
    }

    static long readU32(byte[] in, int offset) {
        return (in[offset] & 0xffL) | (in[offset + 1] & 0xffL) << 8 | (in[offset + 2] & 0xffL) << 16 | (in[offset + 3] & 0xffL) << 24;
    }

    /**
     * Incremental decoder for readers that get bytes in arbitrary chunks: frames may be split across
     * chunks and several may arrive in one.
     */
    public static final class Decoder {
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

        /** Adds bytes and returns the bodies of the frames completed by them, in order. */
        public List<byte[]> push(byte[] chunk, int off, int len) throws WireFormatException {
            pending.write(chunk, off, len);
            byte[] buffered = pending.toByteArray();
            List<byte[]> bodies = new ArrayList<byte[]>();
            int position = 0;
            while (buffered.length - position >= HEADER_SIZE) {
                long length = readU32(buffered, position);
                if (length > MAX_BODY_SIZE) {
                    throw new WireFormatException("FRAME_TOO_LARGE", "frame header announces " + length + " bytes; the limit is " + MAX_BODY_SIZE);
                }
                if (buffered.length - position - HEADER_SIZE < length) break;
                int start = position + HEADER_SIZE;
                bodies.add(Arrays.copyOfRange(buffered, start, start + (int) length));
                position = start + (int) length;
            }
            pending.reset();
            pending.write(buffered, position, buffered.length - position);
            return bodies;
        }

        public List<byte[]> push(byte[] chunk) throws WireFormatException {
            return push(chunk, 0, chunk.length);
        }

        /** Bytes received after the last complete frame. */
        public byte[] remainder() {
            return pending.toByteArray();
        }
    }
}
