package org.anboxoob.protocol;

/**
 * Reads the bytes of an Android {@code Parcel} (docs/protocol.md section 4) with every bound
 * checked. Errors are {@link WireFormatException}s whose codes match the daemon's
 * ({@code TRUNCATED}, {@code NEGATIVE_LENGTH}, {@code LENGTH_TOO_LARGE}, {@code MISSING_TERMINATOR}).
 */
public final class ParcelReader {
    /** {@code BINDER_TYPE_FD}: {@code B_PACK_CHARS('f','d','*',0x85)}. */
    public static final int BINDER_TYPE_FD = 0x66642a85;
    /** Size of a flat binder object (fd object) with the 64-bit binder ABI. */
    public static final int FLAT_OBJECT_SIZE = 24;

    private final byte[] data;
    private final long[] objectOffsets;
    private int position;

    public ParcelReader(byte[] data) {
        this(data, new long[0]);
    }

    /** @param objectOffsets the byte offsets of the flat objects, as a Reply lists them */
    public ParcelReader(byte[] data, long[] objectOffsets) {
        this.data = data;
        this.objectOffsets = objectOffsets;
    }

    public int position() {
        return position;
    }

    public int remaining() {
        return data.length - position;
    }

    public int readInt32() throws WireFormatException {
        need(4, "an int32");
        int value = (int) Frames.readU32(data, position);
        position += 4;
        return value;
    }

    public long readInt64() throws WireFormatException {
        need(8, "an int64");
        long low = readInt32() & 0xffffffffL;
        long high = readInt32() & 0xffffffffL;
        return low | high << 32;
    }

    /** {@code Parcel.readString}: a String16, or {@code null} for length -1. */
    public String readString16() throws WireFormatException {
        int units = readInt32();
        if (units == -1) return null;
        if (units < 0) throw new WireFormatException("NEGATIVE_LENGTH", "String16 length " + units + " is negative");
        long bytes = ParcelWriter.align4Long(2L * units + 2);
        if (bytes > remaining()) {
            throw new WireFormatException("LENGTH_TOO_LARGE", "String16 of " + units + " units needs " + bytes + " bytes; " + remaining() + " remain");
        }
        int start = position;
        int terminator = start + 2 * units;
        if (data[terminator] != 0 || data[terminator + 1] != 0) {
            throw new WireFormatException("MISSING_TERMINATOR", "String16 of " + units + " units has no NUL terminator");
        }
        char[] chars = new char[units];
        for (int i = 0; i < units; i++) {
            chars[i] = (char) ((data[start + 2 * i] & 0xff) | (data[start + 2 * i + 1] & 0xff) << 8);
        }
        position += (int) bytes;
        return new String(chars);
    }

    /** {@code createStringArray}: int32 count (-1 = null), then that many String16s. */
    public String[] readString16Array() throws WireFormatException {
        int count = readInt32();
        if (count == -1) return null;
        if (count < 0) throw new WireFormatException("NEGATIVE_LENGTH", "array length " + count + " is negative");
        if ((long) count * 4 > remaining()) throw new WireFormatException("TRUNCATED", "array of " + count + " strings does not fit in " + remaining() + " bytes");
        String[] out = new String[count];
        for (int i = 0; i < count; i++) out[i] = readString16();
        return out;
    }

    /** Reads an interface token of this layout and returns its descriptor. */
    public String readInterfaceToken(InterfaceTokenLayout layout) throws WireFormatException {
        for (int i = 0; i < layout.headerWords; i++) readInt32();
        return readString16();
    }

    /**
     * Reads the fd object {@code readFileDescriptor()} reads (24 bytes) and returns its descriptor
     * field: on this emulator's socket, the index among the descriptors that came with the reply.
     * The object's offset must be listed in the object offsets; {@code flags} is not checked.
     */
    public int readFileDescriptorIndex() throws WireFormatException {
        int at = position;
        need(FLAT_OBJECT_SIZE, "an fd object");
        boolean listed = false;
        for (long offset : objectOffsets) listed |= offset == at;
        if (!listed) throw new WireFormatException("NOT_AN_FD_OBJECT", "no object is listed at offset " + at);
        int type = readInt32();
        if (type != BINDER_TYPE_FD) {
            throw new WireFormatException("NOT_AN_FD_OBJECT", "object at offset " + at + " has type 0x" + Integer.toHexString(type) + ", not BINDER_TYPE_FD");
        }
        readInt32(); // flags: 0x17f (libgbinder) or 0 (libbinder on Android 14+)
        int descriptor = readInt32();
        readInt32(); // high half of the handle union
        readInt64(); // cookie
        return descriptor;
    }

    private void need(int bytes, String what) throws WireFormatException {
        if (remaining() < bytes) {
            throw new WireFormatException("TRUNCATED", "the Parcel ends inside " + what + " at offset " + position + " (" + remaining() + " of " + bytes + " bytes left)");
        }
    }
}
