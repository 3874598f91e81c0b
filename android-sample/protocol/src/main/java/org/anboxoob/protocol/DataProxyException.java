package org.anboxoob.protocol;

import java.io.IOException;

/**
 * A refused or failed {@code connect}. {@link #getStatus()} is a libbinder {@code status_t}
 * ({@link Status}); {@link #getErrorCode()} is the daemon's stable code (docs/protocol.md section 7,
 * e.g. {@code CHANNEL_NOT_FOUND}) or one of the client-side codes below.
 */
public class DataProxyException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Nothing answers: no binder service, or nothing listens on the adb reverse socket. */
    public static final String SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE";
    /** The connection ended (EOF) before the reply, or a binder call failed with RemoteException. */
    public static final String CONNECTION_LOST = "CONNECTION_LOST";
    /** The peer sent something this protocol does not allow. */
    public static final String PROTOCOL_ERROR = "PROTOCOL_ERROR";
    /** The reply carried no usable descriptor. */
    public static final String INVALID_DESCRIPTOR = "INVALID_DESCRIPTOR";

    private final int status;
    private final String errorCode;
    private final String detail;

    public DataProxyException(int status, String errorCode, String message) {
        this(status, errorCode, message, null);
    }

    public DataProxyException(int status, String errorCode, String message, Throwable cause) {
        super(format(status, errorCode, message), cause);
        this.status = status;
        this.errorCode = errorCode == null ? "" : errorCode;
        this.detail = message == null ? "" : message;
    }

    /** libbinder status_t, e.g. {@link Status#NAME_NOT_FOUND} (-2). */
    public int getStatus() {
        return status;
    }

    public String getStatusName() {
        return Status.name(status);
    }

    /** Stable code for programs, e.g. {@code CHANNEL_NOT_FOUND}; may be empty. */
    public String getErrorCode() {
        return errorCode;
    }

    /** The message alone, for people (without the status and code in front). */
    public String getDetail() {
        return detail;
    }

    private static String format(int status, String errorCode, String message) {
        StringBuilder text = new StringBuilder();
        text.append(errorCode == null || errorCode.isEmpty() ? Status.name(status) : errorCode);
        text.append(" (").append(Status.name(status));
        if (!Status.name(status).startsWith("STATUS(")) text.append(' ').append(status);
        text.append(')');
        if (message != null && !message.isEmpty()) text.append(": ").append(message);
        return text.toString();
    }
}
