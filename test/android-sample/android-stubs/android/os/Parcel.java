package android.os;

public final class Parcel {
    public static Parcel obtain() { throw new RuntimeException("Stub!"); }
    public final void recycle() { throw new RuntimeException("Stub!"); }
    public final void writeInterfaceToken(String interfaceName) { throw new RuntimeException("Stub!"); }
    public final void writeString(String val) { throw new RuntimeException("Stub!"); }
    public final ParcelFileDescriptor readFileDescriptor() { throw new RuntimeException("Stub!"); }
}
