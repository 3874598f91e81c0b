package com.canonical.anbox;

import android.net.LocalSocket;
import android.net.LocalSocketAddress;
import android.os.Build;
import android.util.Log;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

import org.anboxoob.protocol.InterfaceTokenLayout;
import org.anboxoob.protocol.OobConstants;
import org.anboxoob.protocol.PlatformApiCall;

/**
 * Out-of-band data v1 for the emulator flavor: the same class and method as Anbox's
 * {@code com.canonical.anbox.platform_api_skeleton.jar}, so v1 app code compiles and runs
 * unchanged:
 *
 * <pre>
 * PlatformAPISkeleton api = new PlatformAPISkeleton();
 * if (!api.sendMessage("message-type", "message-data")) Log.e(TAG, "not sent");
 * </pre>
 *
 * <p>It calls {@code sendMessage} on the emulator's {@code org.anbox.platform.IPlatformAPI}
 * (docs/protocol.md section 12) over {@code adb reverse}: the abstract socket
 * {@code @anbox-oob-data-proxy} that {@code anbox-oob serve --adb} sets up. Returns false — as on
 * Anbox — when the message was not sent: no web client connected, type above 256 KiB or data above
 * 1 MiB (UTF-8), a type the Streaming SDK handles itself, a message larger than the client takes,
 * or no emulator reachable; the reason is logged and kept in {@link #getLastError()}.
 *
 * <p>On an Anbox Cloud instance use Anbox's own jar instead (this class lives in the emulator
 * flavor's source set only). Blocking: call it off the UI thread, as any binder call.
 */
public class PlatformAPISkeleton {
    private static final String TAG = "PlatformAPISkeleton";
    private static final int TIMEOUT_MS = 10_000;
    private static final AtomicInteger NEXT_ID = new AtomicInteger(1);

    private volatile String lastError;

    public PlatformAPISkeleton() {}

    /** Sends {type, data} to the web client's {@code messageReceived(type, data)}; false when not sent. */
    public boolean sendMessage(String type, String data) {
        LocalSocket socket = new LocalSocket(LocalSocket.SOCKET_STREAM);
        try {
            socket.connect(new LocalSocketAddress(OobConstants.ADB_REVERSE_SOCKET_NAME, LocalSocketAddress.Namespace.ABSTRACT));
            socket.setSoTimeout(TIMEOUT_MS);
            int id = NEXT_ID.getAndIncrement();
            if (id == 0) id = NEXT_ID.getAndIncrement();
            PlatformApiCall.Result result = PlatformApiCall.sendMessage(socket.getInputStream(), socket.getOutputStream(), type, data,
                    InterfaceTokenLayout.forSdkInt(Build.VERSION.SDK_INT), id);
            if (result.sent) {
                lastError = null;
                return true;
            }
            return fail(result.toString());
        } catch (IOException e) {
            return fail("cannot reach the emulator's platform API over @" + OobConstants.ADB_REVERSE_SOCKET_NAME
                    + " (is `anbox-oob serve --adb` running for this device?): " + e.getMessage());
        } finally {
            try {
                socket.close();
            } catch (IOException ignored) {
                // nothing left to release
            }
        }
    }

    /** Why the last sendMessage returned false, or null after a successful one. */
    public String getLastError() {
        return lastError;
    }

    private boolean fail(String reason) {
        lastError = reason;
        Log.w(TAG, "sendMessage returned false: " + reason);
        return false;
    }
}
