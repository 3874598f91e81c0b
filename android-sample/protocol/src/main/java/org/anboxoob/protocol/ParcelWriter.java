package org.anboxoob.protocol;

import java.util.Arrays;

/**
 * Writes the bytes of an Android {@code Parcel} (docs/protocol.md section 4): little-endian,
 * everything 4-byte aligned. Only what a {@code connect} request needs, plus int64.
 */
public final class ParcelWriter {
    private byte[] buffer = new byte[128];
    private int size;

    /** {@code Parcel.writeInt}: 4 bytes LE. */
    public ParcelWriter writeInt32(int value) {
        ensure(4);
        Frames.writeU32(buffer, size, value);
        size += 4;
        return this;
    }

    /** {@code Parcel.writeLong}: 8 bytes LE. */
    public ParcelWriter writeInt64(long value) {
        writeInt32((int) value);
        return writeInt32((int) (value >>> 32));
    }

    /**
     * {@code Parcel.writeString} (String16): int32 N UTF-16 units, N*2 bytes UTF-16LE, a u16 0
     * terminator, zero padding to 4 bytes — {@code 4 + align4(2N + 2)} bytes. {@code null} is int32
     * -1 alone. Java strings are UTF-16 already, so unpaired surrogates pass through as Android's do.
     */
    public ParcelWriter writeString16(String value) {
        if (value == null) return writeInt32(-1);
        int units = value.length();
        writeInt32(units);
        int payload = align4(2 * units + 2);
        ensure(payload);
        for (int i = 0; i < units; i++) {
            char c = value.charAt(i);
            buffer[size + 2 * i] = (byte) c;
            buffer[size + 2 * i + 1] = (byte) (c >>> 8);
        }
        // Terminator and padding: ensure() hands out zeroed bytes.
        size += payload;
        return this;
    }

    /**
     * {@code Parcel.writeInterfaceToken(descriptor)} as Android of this layout writes it from a
     * thread without StrictMode penalties: the layout's GATHER policy bit, work source -1 (unset)
     * and header 'SYST' where the layout has them.
     */
    public ParcelWriter writeInterfaceToken(String descriptor, InterfaceTokenLayout layout) {
        return writeInterfaceToken(descriptor, layout, layout.defaultPolicy, InterfaceTokenLayout.WORK_SOURCE_UNSET, InterfaceTokenLayout.HEADER_SYST);
    }

    /** {@code writeInterfaceToken} with explicit policy, work source and header words. */
    public ParcelWriter writeInterfaceToken(String descriptor, InterfaceTokenLayout layout, int policy, int workSource, int header) {
        writeInt32(policy);
        if (layout.headerWords >= 2) writeInt32(workSource);
        if (layout.headerWords >= 3) writeInt32(header);
        return writeString16(descriptor);
    }

    /** The request of {@code IDataProxyService.connect(channel)}: interface token + String16 name. */
    public static byte[] connectRequest(String channel, InterfaceTokenLayout layout) {
        return new ParcelWriter().writeInterfaceToken(OobConstants.INTERFACE_DESCRIPTOR, layout).writeString16(channel).toByteArray();
    }

    public int dataSize() {
        return size;
    }

    public byte[] toByteArray() {
        return Arrays.copyOf(buffer, size);
    }

    static int align4(int n) {
        return (n + 3) & ~3;
    }

    static long align4Long(long n) {
        return (n + 3) & ~3L;
    }

    private void ensure(int more) {
        if (size + more <= buffer.length) return;
        buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + more));
    }
}
