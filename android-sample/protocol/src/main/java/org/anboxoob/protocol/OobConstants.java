package org.anboxoob.protocol;

/**
 * The names both sides of Anbox's out-of-band data v2 agree on. The emulator's daemon uses the same
 * values (src/service/data-proxy-service.ts, src/broadcast/types.ts); a test in
 * test/android-sample checks that they stay equal.
 */
public final class OobConstants {
    private OobConstants() {}

    /** The binder service name, as registered with Android's service manager on Anbox. */
    public static final String SERVICE_NAME = "org.anbox.webrtc.IDataProxyService";

    /** The interface descriptor written by {@code writeInterfaceToken}. */
    public static final String INTERFACE_DESCRIPTOR = "org.anbox.webrtc.IDataProxyService@1.0";

    /** {@code IBinder.FIRST_CALL_TRANSACTION}: the {@code connect(String channel)} method. */
    public static final int TRANSACTION_CONNECT = 1;

    /**
     * The abstract Unix socket on the device that {@code anbox-oob serve --adb} forwards to the
     * daemon's service socket with {@code adb reverse localabstract:anbox-oob-data-proxy
     * localfilesystem:<service socket>}.
     */
    public static final String ADB_REVERSE_SOCKET_NAME = "anbox-oob-data-proxy";

    /** The broadcast Anbox sends when data channels come and go. */
    public static final String CHANNEL_STATUS_ACTION = "com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS";

    /** String extra: {@link #EVENT_CREATED} or {@link #EVENT_DESTROYED}. */
    public static final String EXTRA_EVENT = "event";

    /** String[] extra: the channels the event is about. */
    public static final String EXTRA_DATA_CHANNEL_NAMES = "data-channel-names";

    public static final String EVENT_CREATED = "created";
    public static final String EVENT_DESTROYED = "destroyed";
}
