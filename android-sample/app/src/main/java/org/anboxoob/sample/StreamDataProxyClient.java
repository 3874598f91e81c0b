package org.anboxoob.sample;

import android.net.LocalSocket;
import android.net.LocalSocketAddress;
import android.os.Build;
import android.os.ParcelFileDescriptor;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

import org.anboxoob.protocol.DataProxyException;
import org.anboxoob.protocol.InterfaceTokenLayout;
import org.anboxoob.protocol.OobConstants;
import org.anboxoob.protocol.Status;
import org.anboxoob.protocol.StreamConnect;

/**
 * anbox-oob-emulator's stream mode over {@code adb reverse}, for any phone or Android emulator.
 *
 * <p>{@code anbox-oob serve --adb} runs {@code adb reverse localabstract:anbox-oob-data-proxy
 * localfilesystem:<service socket>}: adbd on the device listens on the abstract Unix socket
 * {@code @anbox-oob-data-proxy} and carries every connection to the daemon's service socket on the
 * computer. An adb forward carries bytes only, not descriptors, so {@code connect} asks for stream
 * mode (docs/protocol.md section 6): after an OK reply the connection itself is the data channel.
 *
 * <p>Ownership: the {@link LocalSocket} is used for the handshake only. On success this method
 * {@code dup}s its descriptor into a {@link ParcelFileDescriptor} and closes the LocalSocket (which
 * closes its own descriptor and does not shut the socket down), so the returned descriptor is the
 * only reference left to the connection and the caller owns it, exactly as with the binder
 * transport. On any failure the LocalSocket is closed and nothing is returned.
 */
public final class StreamDataProxyClient implements DataProxyClient {
    /** How long the handshake may take: adb forwards add latency, but a reply never takes long. */
    private static final int HANDSHAKE_TIMEOUT_MS = 10_000;

    private final AtomicInteger nextId = new AtomicInteger(1);

    @Override
    public ParcelFileDescriptor connect(String channel) throws DataProxyException {
        if (channel == null) throw new IllegalArgumentException("channel name is null");
        LocalSocket socket = new LocalSocket(LocalSocket.SOCKET_STREAM);
        try {
            try {
                socket.connect(new LocalSocketAddress(OobConstants.ADB_REVERSE_SOCKET_NAME, LocalSocketAddress.Namespace.ABSTRACT));
            } catch (IOException e) {
                throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.SERVICE_UNAVAILABLE,
                        "nothing listens on the abstract socket @" + OobConstants.ADB_REVERSE_SOCKET_NAME
                                + ": on the computer this device is connected to, run `anbox-oob serve --adb`"
                                + " (it sets up `adb reverse`) (" + e.getMessage() + ")", e);
            }
            socket.setSoTimeout(HANDSHAKE_TIMEOUT_MS);
            // The token layout this Android version's own Parcel would write; the daemon takes all.
            StreamConnect.connect(socket.getInputStream(), socket.getOutputStream(), channel,
                    InterfaceTokenLayout.forSdkInt(Build.VERSION.SDK_INT), nextTransactionId());
            // From here on the socket is the channel: blocking reads must wait as long as it takes.
            socket.setSoTimeout(0);
            return ParcelFileDescriptor.dup(socket.getFileDescriptor());
        } catch (DataProxyException e) {
            throw e;
        } catch (IOException e) {
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST,
                    "stream-mode connect over adb reverse failed: " + e.getMessage(), e);
        } finally {
            try {
                socket.close();
            } catch (IOException ignored) {
                // the dup (if any) is unaffected
            }
        }
    }

    @Override
    public String describe() {
        return "stream mode over adb reverse: @" + OobConstants.ADB_REVERSE_SOCKET_NAME;
    }

    private int nextTransactionId() {
        int id = nextId.getAndIncrement();
        if (id == 0) id = nextId.getAndIncrement(); // 0 is reserved for replies to undecodable frames
        return id;
    }
}
