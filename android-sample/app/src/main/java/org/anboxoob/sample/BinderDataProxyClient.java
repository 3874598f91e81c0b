package org.anboxoob.sample;

import android.os.IBinder;
import android.os.Parcel;
import android.os.ParcelFileDescriptor;
import android.os.RemoteException;
import android.os.TransactionTooLargeException;
import android.system.ErrnoException;
import android.system.Os;
import android.system.OsConstants;
import android.system.StructStat;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.NoSuchElementException;

import org.anboxoob.protocol.DataProxyException;
import org.anboxoob.protocol.OobConstants;
import org.anboxoob.protocol.Status;

/**
 * The real thing on Anbox: {@code org.anbox.webrtc.IDataProxyService} over kernel binder, exactly
 * as Anbox's own sample calls it. Needs a system app ({@code android:sharedUserId="android.uid.system"},
 * installed with {@code aam install-system-app ... --access-hidden-api}): {@code ServiceManager}
 * is a hidden API and SELinux lets only system processes find the service.
 *
 * <p>Request: interface token {@code org.anbox.webrtc.IDataProxyService@1.0}, String16 channel
 * name, code {@code FIRST_CALL_TRANSACTION}. Reply: one fd object, read with
 * {@code readFileDescriptor()} and no {@code readException()} in front.
 */
public final class BinderDataProxyClient implements DataProxyClient {

    @Override
    public ParcelFileDescriptor connect(String channel) throws DataProxyException {
        if (channel == null) throw new IllegalArgumentException("channel name is null");
        return connect(getService(), channel);
    }

    /** The call itself, on a given service binder (the tests hand it a fake one). */
    static ParcelFileDescriptor connect(IBinder service, String channel) throws DataProxyException {
        Parcel data = Parcel.obtain();
        Parcel reply = Parcel.obtain();
        try {
            data.writeInterfaceToken(OobConstants.INTERFACE_DESCRIPTOR);
            data.writeString(channel);
            boolean handled = service.transact(IBinder.FIRST_CALL_TRANSACTION, data, reply, 0);
            if (!handled) {
                throw new DataProxyException(Status.UNKNOWN_TRANSACTION, "UNKNOWN_TRANSACTION",
                        OobConstants.SERVICE_NAME + " does not implement connect (code 1)");
            }
            // readFileDescriptor() dups the descriptor the binder driver installed; the reply
            // Parcel keeps (and recycle() closes) the original.
            ParcelFileDescriptor descriptor = reply.readFileDescriptor();
            if (descriptor == null) {
                throw new DataProxyException(Status.NAME_NOT_FOUND, DataProxyException.INVALID_DESCRIPTOR,
                        "the data proxy returned no descriptor for channel \"" + channel
                                + "\": is that channel open in the web client (AnboxStream dataChannels)?");
            }
            checkIsSocket(descriptor, channel);
            return descriptor;
        } catch (TransactionTooLargeException e) {
            throw new DataProxyException(Status.FAILED_TRANSACTION, "FAILED_TRANSACTION",
                    "binder call to " + OobConstants.SERVICE_NAME + " failed: " + e, e);
        } catch (RemoteException e) {
            // DeadObjectException (DEAD_OBJECT, or FAILED_TRANSACTION on a small parcel: the proxy
            // died during the call) and any other RemoteException.
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST,
                    "binder call to " + OobConstants.SERVICE_NAME + " failed: " + e, e);
        } catch (RuntimeException e) {
            int status = statusOf(e);
            throw new DataProxyException(status, Status.name(status),
                    "the data proxy answered " + Status.name(status) + " for channel \"" + channel + "\": " + e, e);
        } finally {
            data.recycle();
            reply.recycle();
        }
    }

    /**
     * The {@code status_t} behind a RuntimeException that {@code BinderProxy.transact} or
     * {@code Parcel} threw. libbinder's error statuses reach Java as exceptions of these types
     * (frameworks/base/core/jni/android_util_Binder.cpp, signalExceptionForError); several
     * statuses share a type (BAD_VALUE and BAD_TYPE are both IllegalArgumentException), so the
     * first of them is reported. The statuses thrown as a plain RuntimeException are told apart by
     * the message that function gives them.
     */
    static int statusOf(RuntimeException e) {
        if (e instanceof SecurityException) return Status.PERMISSION_DENIED;
        if (e instanceof IllegalArgumentException) return Status.BAD_VALUE;
        if (e instanceof UnsupportedOperationException) return Status.INVALID_OPERATION;
        if (e instanceof IndexOutOfBoundsException) return Status.BAD_INDEX;
        if (e instanceof NoSuchElementException) return Status.NAME_NOT_FOUND;
        if (e instanceof NullPointerException) return Status.UNEXPECTED_NULL;
        // android.os.ParcelFormatException (NOT_ENOUGH_DATA): named rather than imported, as SDK
        // stubs of some API levels do not list it.
        if ("android.os.ParcelFormatException".equals(e.getClass().getName())) return Status.NOT_ENOUGH_DATA;
        if (e.getClass() == RuntimeException.class) {
            String message = e.getMessage() != null ? e.getMessage() : "";
            if (message.startsWith("Unknown transaction code")) return Status.UNKNOWN_TRANSACTION;
            if (message.startsWith("Not allowed to write file descriptors")) return Status.FDS_NOT_ALLOWED;
            if (message.startsWith("Transaction failed")) return Status.FAILED_TRANSACTION;
        }
        return Status.UNKNOWN_ERROR;
    }

    @Override
    public String describe() {
        return "binder: " + OobConstants.SERVICE_NAME;
    }

    /** {@code android.os.ServiceManager.getService(name)}, a hidden API, by reflection. */
    private static IBinder getService() throws DataProxyException {
        Object binder;
        try {
            Class<?> serviceManager = Class.forName("android.os.ServiceManager");
            Method getService = serviceManager.getMethod("getService", String.class);
            binder = getService.invoke(null, OobConstants.SERVICE_NAME);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new DataProxyException(Status.PERMISSION_DENIED, DataProxyException.SERVICE_UNAVAILABLE,
                    "ServiceManager.getService(\"" + OobConstants.SERVICE_NAME + "\") failed: " + cause, cause);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new DataProxyException(Status.PERMISSION_DENIED, DataProxyException.SERVICE_UNAVAILABLE,
                    "android.os.ServiceManager is not accessible (" + e + "); install the app as a system app with"
                            + " `aam install-system-app ... --access-hidden-api`", e);
        }
        if (!(binder instanceof IBinder)) {
            throw new DataProxyException(Status.NAME_NOT_FOUND, DataProxyException.SERVICE_UNAVAILABLE,
                    "no binder service \"" + OobConstants.SERVICE_NAME + "\": this is not an Anbox instance with"
                            + " out-of-band data v2, or the app is not a system app (SELinux hides the service)."
                            + " On a phone or emulator, use the emulator flavor with anbox-oob-emulator.");
        }
        return (IBinder) binder;
    }

    /** A descriptor that is not a socket cannot be a data channel. */
    private static void checkIsSocket(ParcelFileDescriptor descriptor, String channel) throws DataProxyException {
        try {
            StructStat stat = Os.fstat(descriptor.getFileDescriptor());
            if (OsConstants.S_ISSOCK(stat.st_mode)) return;
            closeQuietly(descriptor);
            throw new DataProxyException(Status.BAD_TYPE, DataProxyException.INVALID_DESCRIPTOR,
                    "the descriptor returned for channel \"" + channel + "\" is not a socket (mode 0"
                            + Integer.toOctalString(stat.st_mode) + ")");
        } catch (ErrnoException e) {
            closeQuietly(descriptor);
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.INVALID_DESCRIPTOR,
                    "the descriptor returned for channel \"" + channel + "\" is invalid: " + e.getMessage(), e);
        }
    }

    private static void closeQuietly(ParcelFileDescriptor descriptor) {
        try {
            descriptor.close();
        } catch (IOException ignored) {
            // nothing more to do
        }
    }
}
