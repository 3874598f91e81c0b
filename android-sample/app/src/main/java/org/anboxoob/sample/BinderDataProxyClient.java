package org.anboxoob.sample;

import android.os.IBinder;
import android.os.Parcel;
import android.os.ParcelFileDescriptor;
import android.os.RemoteException;
import android.system.ErrnoException;
import android.system.Os;
import android.system.OsConstants;
import android.system.StructStat;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

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
        IBinder service = getService();
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
        } catch (RemoteException e) {
            // DeadObjectException included: the proxy died during the call.
            throw new DataProxyException(Status.DEAD_OBJECT, DataProxyException.CONNECTION_LOST,
                    "binder call to " + OobConstants.SERVICE_NAME + " failed: " + e, e);
        } catch (SecurityException e) {
            throw new DataProxyException(Status.PERMISSION_DENIED, "PERMISSION_DENIED",
                    "the data proxy refused this app (it must run as a system app): " + e.getMessage(), e);
        } catch (IllegalArgumentException | IllegalStateException e) {
            // How the framework surfaces error statuses in a reply (BAD_VALUE, a malformed Parcel...).
            throw new DataProxyException(Status.BAD_VALUE, DataProxyException.INVALID_DESCRIPTOR,
                    "the data proxy's reply could not be used: " + e, e);
        } finally {
            data.recycle();
            reply.recycle();
        }
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
