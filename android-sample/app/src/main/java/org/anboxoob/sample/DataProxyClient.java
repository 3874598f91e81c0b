package org.anboxoob.sample;

import android.os.ParcelFileDescriptor;

import org.anboxoob.protocol.DataProxyException;

/**
 * {@code org.anbox.webrtc.IDataProxyService.connect(channel)}, whatever carries it.
 *
 * <p>Both transports return the same thing: a {@link ParcelFileDescriptor} for a connected,
 * blocking Unix stream socket that <em>is</em> the data channel (bytes written go to the browser,
 * bytes from the browser can be read). The caller owns it and must close it; {@link ChannelSession}
 * does. Nothing else about the connection differs between the transports.
 *
 * <ul>
 *   <li>{@link BinderDataProxyClient}: on Anbox, kernel binder; the descriptor is the channel socket
 *       the data proxy connected for us.</li>
 *   <li>{@link StreamDataProxyClient}: anywhere, through anbox-oob-emulator's stream mode over
 *       {@code adb reverse}; the descriptor is the socket to adbd, which the emulator has turned
 *       into the channel.</li>
 * </ul>
 */
public interface DataProxyClient {
    /**
     * Connects a data channel. Blocks (binder call or socket handshake): never call it on the main
     * thread.
     *
     * @throws DataProxyException with a libbinder status, a stable error code (the daemon's, e.g.
     *     {@code CHANNEL_NOT_FOUND}, or {@code SERVICE_UNAVAILABLE}, {@code CONNECTION_LOST},
     *     {@code INVALID_DESCRIPTOR}, {@code PROTOCOL_ERROR}) and a message for people
     */
    ParcelFileDescriptor connect(String channel) throws DataProxyException;

    /** One line for the UI: which transport this is. */
    String describe();
}
