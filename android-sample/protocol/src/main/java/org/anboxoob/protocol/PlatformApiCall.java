package org.anboxoob.protocol;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Out-of-band data v1 (docs/protocol.md section 12): {@code sendMessage(type, data)} on the
 * emulator's {@code org.anbox.platform.IPlatformAPI} over any byte stream to the service socket (a
 * Unix socket, or a {@code LocalSocket} to the abstract socket {@code adb reverse} forwards).
 *
 * <p>One framed Transaction, one framed Reply. The reply is AIDL's layout for a boolean: int32 0
 * (no exception), int32 1/0; then String16 code and String16 reason (null when sent).
 */
public final class PlatformApiCall {
    private PlatformApiCall() {}

    /** Ours: Anbox does not document the binder names behind PlatformAPISkeleton. */
    public static final String SERVICE_NAME = "org.anbox.platform.IPlatformAPI";
    public static final String INTERFACE_DESCRIPTOR = "org.anbox.platform.IPlatformAPI@1.0";
    /** sendMessage(String type, String data) = FIRST_CALL_TRANSACTION. */
    public static final int TRANSACTION_SEND_MESSAGE = 1;
    /** A frame body is at most 1 MiB: room kept for the envelope around the Parcel. */
    public static final int MAX_PARCEL_BYTES = Frames.MAX_BODY_SIZE - 4096;

    /** What sendMessage answered: {@code sent}, and when false a stable code and a reason. */
    public static final class Result {
        public final boolean sent;
        public final String code;
        public final String reason;

        public Result(boolean sent, String code, String reason) {
            this.sent = sent;
            this.code = code;
            this.reason = reason;
        }

        @Override
        public String toString() {
            return sent ? "sent" : "not sent (" + code + "): " + reason;
        }
    }

    /** The request Parcel: interface token, String16 type, String16 data. */
    public static byte[] request(String type, String data, InterfaceTokenLayout layout) {
        return new ParcelWriter().writeInterfaceToken(INTERFACE_DESCRIPTOR, layout).writeString16(type).writeString16(data).toByteArray();
    }

    /**
     * Sends the transaction and reads its reply. A message that does not fit a transaction is
     * answered locally ({@code TRANSACTION_TOO_LARGE}), as the daemon would hang up on the frame.
     *
     * @throws DataProxyException the daemon refused the transaction itself (permission, unknown
     *     service: an older daemon), the connection ended, or the reply broke the protocol
     */
    public static Result sendMessage(InputStream in, OutputStream out, String type, String data, InterfaceTokenLayout layout, int id) throws IOException {
        if (id == 0) throw new IllegalArgumentException("transaction id 0 is reserved for replies to undecodable frames");
        byte[] parcel = request(type, data, layout);
        if (parcel.length > MAX_PARCEL_BYTES) {
            return new Result(false, "TRANSACTION_TOO_LARGE", "the request is " + parcel.length
                    + " bytes as a Parcel (2 bytes per UTF-16 unit); a transaction carries at most " + MAX_PARCEL_BYTES);
        }
        ProtoWire.Transaction t = new ProtoWire.Transaction();
        t.id = id;
        t.service = SERVICE_NAME;
        t.code = TRANSACTION_SEND_MESSAGE;
        t.data = parcel;
        try {
            out.write(Frames.frame(ProtoWire.encodeTransactionFrame(t)));
            out.flush();
        } catch (IOException e) {
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST, "could not send sendMessage: " + e.getMessage(), e);
        }
        byte[] body;
        try {
            body = Frames.readFrame(in);
        } catch (WireFormatException e) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the reply is not a valid frame: " + e.getMessage(), e);
        }
        if (body == null) {
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST, "the service closed the connection without replying");
        }
        ProtoWire.Reply reply;
        try {
            reply = ProtoWire.decodeFrame(body).reply;
        } catch (WireFormatException e) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the reply frame does not decode: " + e.getMessage(), e);
        }
        if (reply == null) throw new DataProxyException(Status.INVALID_OPERATION, DataProxyException.PROTOCOL_ERROR, "the service sent a transaction instead of a reply");
        if (reply.status != Status.OK) throw new DataProxyException(reply.status, reply.errorCode, reply.message);
        if (reply.id != id) throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the reply has id " + reply.id + "; expected " + id);
        ParcelReader r = new ParcelReader(reply.data);
        try {
            int exception = r.readInt32();
            if (exception != 0) throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "sendMessage replied with exception code " + exception);
            if (r.readInt32() != 0) return new Result(true, null, null);
            String code = r.readString16();
            String reason = r.readString16();
            return new Result(false, code == null ? "UNKNOWN" : code, reason == null ? "not sent (no reason given)" : reason);
        } catch (WireFormatException e) {
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.PROTOCOL_ERROR, "the sendMessage reply is too short: " + e.getMessage(), e);
        }
    }
}
