package android.os;

public class AndroidException extends Exception {
    public AndroidException() { throw new RuntimeException("Stub!"); }
}
