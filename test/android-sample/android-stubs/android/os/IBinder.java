package android.os;

public interface IBinder {
    int FIRST_CALL_TRANSACTION = 0x00000001;
    int FLAG_ONEWAY = 0x00000001;
    boolean transact(int code, Parcel data, Parcel reply, int flags) throws RemoteException;
}
