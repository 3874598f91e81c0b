package org.anboxoob.protocol;

/** libbinder {@code status_t} values used by the protocol (docs/protocol.md section 7). */
public final class Status {
    private Status() {}

    public static final int OK = 0;
    public static final int PERMISSION_DENIED = -1;
    public static final int NAME_NOT_FOUND = -2;
    public static final int WOULD_BLOCK = -11;
    public static final int NO_MEMORY = -12;
    public static final int BAD_VALUE = -22;
    public static final int DEAD_OBJECT = -32;
    public static final int INVALID_OPERATION = -38;
    public static final int NOT_ENOUGH_DATA = -61;
    public static final int UNKNOWN_TRANSACTION = -74;
    /** -EOVERFLOW. */
    public static final int BAD_INDEX = -75;
    public static final int UNKNOWN_ERROR = 0x80000000;
    public static final int BAD_TYPE = 0x80000001;
    public static final int FAILED_TRANSACTION = 0x80000002;
    public static final int FDS_NOT_ALLOWED = 0x80000007;
    public static final int UNEXPECTED_NULL = 0x80000008;

    /** The symbolic name of a status, or {@code "STATUS(<n>)"} for one this table does not know. */
    public static String name(int status) {
        switch (status) {
            case OK: return "OK";
            case PERMISSION_DENIED: return "PERMISSION_DENIED";
            case NAME_NOT_FOUND: return "NAME_NOT_FOUND";
            case WOULD_BLOCK: return "WOULD_BLOCK";
            case NO_MEMORY: return "NO_MEMORY";
            case BAD_VALUE: return "BAD_VALUE";
            case DEAD_OBJECT: return "DEAD_OBJECT";
            case INVALID_OPERATION: return "INVALID_OPERATION";
            case NOT_ENOUGH_DATA: return "NOT_ENOUGH_DATA";
            case UNKNOWN_TRANSACTION: return "UNKNOWN_TRANSACTION";
            case BAD_INDEX: return "BAD_INDEX";
            case UNKNOWN_ERROR: return "UNKNOWN_ERROR";
            case BAD_TYPE: return "BAD_TYPE";
            case FAILED_TRANSACTION: return "FAILED_TRANSACTION";
            case FDS_NOT_ALLOWED: return "FDS_NOT_ALLOWED";
            case UNEXPECTED_NULL: return "UNEXPECTED_NULL";
            default: return "STATUS(" + status + ")";
        }
    }
}
