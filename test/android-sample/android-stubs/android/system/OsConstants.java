package android.system;

public final class OsConstants {
    /** Not compile-time constants on Android: their values come from the device's libc. */
    public static final int SHUT_RDWR = placeholder();
    public static boolean S_ISSOCK(int mode) { throw new RuntimeException("Stub!"); }
    private static int placeholder() { return 0; }
}
