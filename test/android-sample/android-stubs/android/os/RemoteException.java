package android.os;

public class RemoteException extends AndroidException {
    public RemoteException() { throw new RuntimeException("Stub!"); }
}
