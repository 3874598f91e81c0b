package org.anboxoob.protocol;

/**
 * The three layouts Java's {@code Parcel.writeInterfaceToken} has used (binder-parcel.md,
 * docs/protocol.md section 4): the words before the String16 descriptor.
 */
public enum InterfaceTokenLayout {
    /** Android 6–9 (API 23–28), libgbinder {@code aidl}: int32 strict-mode policy. */
    API28(1, 0x00400000),
    /** Android 10 (API 29), {@code aidl2}: int32 policy, int32 work source (-1 = unset). */
    API29(2, 0x80000000),
    /** Android 11+ (API 30+), {@code aidl3}: int32 policy, int32 work source, int32 header 'SYST'. */
    API30(3, 0x80000000);

    /** How many int32 words precede the descriptor. */
    public final int headerWords;
    /**
     * The policy word a thread without StrictMode penalties writes: just the GATHER bit of that
     * Android version. Real apps may set more bits; the daemon ignores the value.
     */
    public final int defaultPolicy;

    InterfaceTokenLayout(int headerWords, int defaultPolicy) {
        this.headerWords = headerWords;
        this.defaultPolicy = defaultPolicy;
    }

    /** The layout an Android device of this API level writes ({@code Build.VERSION.SDK_INT}). */
    public static InterfaceTokenLayout forSdkInt(int sdkInt) {
        if (sdkInt >= 30) return API30;
        if (sdkInt == 29) return API29;
        return API28;
    }

    /** Work source "unset". */
    public static final int WORK_SOURCE_UNSET = -1;
    /** {@code B_PACK_CHARS('S','Y','S','T')}: ordinary Android processes (bytes {@code 54 53 59 53}). */
    public static final int HEADER_SYST = 0x53595354;
    public static final int HEADER_VNDR = 0x564e4452;
    public static final int HEADER_RECO = 0x5245434f;
    public static final int HEADER_UNKN = 0x554e4b4e;
}
