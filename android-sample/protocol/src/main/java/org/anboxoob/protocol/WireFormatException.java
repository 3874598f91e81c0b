package org.anboxoob.protocol;

import java.io.IOException;

/**
 * Bytes that do not follow the wire format: a bad frame header, protobuf or Parcel.
 * {@link #getErrorCode()} uses the daemon's names where one fits ({@code MALFORMED_FRAME},
 * {@code EMPTY_FRAME}, {@code FRAME_TOO_LARGE}, {@code TRUNCATED}, {@code NEGATIVE_LENGTH},
 * {@code LENGTH_TOO_LARGE}, {@code MISSING_TERMINATOR}, {@code NOT_AN_FD_OBJECT}).
 */
public class WireFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String errorCode;

    public WireFormatException(String errorCode, String message) {
        super(errorCode + ": " + message);
        this.errorCode = errorCode;
    }

    public String getErrorCode() {
        return errorCode;
    }
}
