package org.anboxoob.protocol;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The stream-mode {@code connect} handshake (docs/protocol.md section 6) over any byte stream: a
 * Unix socket to the daemon, or an Android {@code LocalSocket} to the abstract socket
 * {@code adb reverse} forwards to it.
 *
 * <p>It sends one framed Transaction ({@code IDataProxyService.connect(channel)},
 * {@code reply_mode = 1}) and reads exactly one framed Reply — never a byte more. When
 * {@link #connect} returns, the connection <em>is</em> the data channel: every later byte in either
 * direction is channel data, without framing. On a refusal the daemon closes the connection after
 * the reply; open a new one to try again.
 */
public final class StreamConnect {
    private StreamConnect() {}

    public static final int DEFAULT_TRANSACTION_ID = 1;

    /** {@link #connect(InputStream, OutputStream, String, InterfaceTokenLayout, int)} with the Android 11+ token and id 1. */
    public static void connect(InputStream in, OutputStream out, String channel) throws IOException {
        connect(in, out, channel, InterfaceTokenLayout.API30, DEFAULT_TRANSACTION_ID);
    }

    /**
     * Performs the handshake.
     *
     * @param layout the interface-token layout to write (the daemon accepts all three)
     * @param id a non-zero transaction id, echoed in the reply
     * @throws DataProxyException the daemon refused ({@code getStatus()}, {@code getErrorCode()} and
     *     {@code getDetail()} come from the Reply), the connection ended before the reply
     *     ({@code CONNECTION_LOST}), or the reply broke the protocol ({@code PROTOCOL_ERROR})
     */
    public static void connect(InputStream in, OutputStream out, String channel, InterfaceTokenLayout layout, int id) throws IOException {
        if (channel == null) throw new IllegalArgumentException("channel name is null");
        if (id == 0) throw new IllegalArgumentException("transaction id 0 is reserved for replies to undecodable frames");
        byte[] request = connectTransactionFrame(channel, layout, id, ProtoWire.REPLY_MODE_STREAM);
        try {
            out.write(request);
            out.flush();
        } catch (IOException e) {
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST, "could not send the connect request: " + e.getMessage(), e);
        }

        byte[] body;
        try {
            body = Frames.readFrame(in);
        } catch (WireFormatException e) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the reply is not a valid frame: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST, "the connection failed before the reply: " + e.getMessage(), e);
        }
        if (body == null) {
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST,
                    "the service closed the connection without replying (is the anbox-oob daemon running, and on a device, was adb reverse set up?)");
        }

        ProtoWire.Frame frame;
        try {
            frame = ProtoWire.decodeFrame(body);
        } catch (WireFormatException e) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the reply frame does not decode: " + e.getMessage(), e);
        }
        ProtoWire.Reply reply = frame.reply;
        if (reply == null) {
            throw new DataProxyException(Status.INVALID_OPERATION, DataProxyException.PROTOCOL_ERROR, "the service sent a transaction frame instead of a reply");
        }
        if (reply.status != Status.OK) {
            // Also replies with id 0 (the daemon could not decode our frame) are errors for us.
            throw new DataProxyException(reply.status, reply.errorCode, reply.message);
        }
        if (reply.id != id) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the reply has id " + (reply.id & 0xffffffffL) + "; expected " + (id & 0xffffffffL));
        }
        if (reply.fdCount != 0 || reply.data.length != 0 || reply.objectOffsets.length != 0) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR,
                    "a stream-mode reply must be empty, but it has " + reply.data.length + " data bytes and " + reply.fdCount + " descriptors");
        }
    }

    /** The whole frame (header included) of a {@code connect(channel)} transaction. */
    public static byte[] connectTransactionFrame(String channel, InterfaceTokenLayout layout, int id, int replyMode) {
        ProtoWire.Transaction t = new ProtoWire.Transaction();
        t.id = id;
        t.service = OobConstants.SERVICE_NAME;
        t.code = OobConstants.TRANSACTION_CONNECT;
        t.data = ParcelWriter.connectRequest(channel, layout);
        t.replyMode = replyMode;
        return Frames.frame(ProtoWire.encodeTransactionFrame(t));
    }
}
