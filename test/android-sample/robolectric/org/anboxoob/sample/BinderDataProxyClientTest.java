package org.anboxoob.sample;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import android.os.DeadObjectException;
import android.os.IBinder;
import android.os.Parcel;
import android.os.ParcelFileDescriptor;
import android.os.RemoteException;
import android.os.TransactionTooLargeException;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.NoSuchElementException;

import org.anboxoob.protocol.DataProxyException;
import org.anboxoob.protocol.OobConstants;
import org.anboxoob.protocol.Status;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.annotation.Config;

/**
 * BinderDataProxyClient against a fake data proxy: the request and the reply are real Parcels, and
 * its failures are the exception types libbinder's error statuses become in Java
 * (android_util_Binder.cpp, signalExceptionForError).
 *
 * <p>Not tested here: the descriptor in a successful reply. Robolectric's Parcel and Os do not
 * model binder fd objects or fstat (readFileDescriptor on an empty reply returns a descriptor, and
 * fstat reports mode 0 for a socket too), so a test of checkIsSocket would pass for the wrong reason.
 */
@RunWith(RobolectricTestRunner.class)
@Config(sdk = 34)
public class BinderDataProxyClientTest {

    /** What the fake proxy does with a connect(channel) it has read and checked. */
    interface Reply {
        void write(String channel, Parcel reply) throws RemoteException;
    }

    /**
     * A fake IBinder standing where BinderProxy stands: transact() gets the real request Parcel and
     * fills the real reply Parcel, or throws what BinderProxy.transact throws for an error status.
     * (A local android.os.Binder would not do: its transact runs onTransact and, like a remote
     * service, would write Java exceptions into the reply, which a native service never does.)
     */
    static final class FakeDataProxy implements InvocationHandler {
        final Reply answer;
        final boolean handles;
        String lastChannel;
        int calls;

        FakeDataProxy(Reply answer) {
            this(answer, true);
        }

        FakeDataProxy(Reply answer, boolean handles) {
            this.answer = answer;
            this.handles = handles;
        }

        IBinder binder() {
            return (IBinder) Proxy.newProxyInstance(IBinder.class.getClassLoader(), new Class<?>[] {IBinder.class}, this);
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (!method.getName().equals("transact")) throw new UnsupportedOperationException(method.getName());
            int code = (Integer) args[0];
            Parcel data = (Parcel) args[1];
            Parcel reply = (Parcel) args[2];
            assertEquals(IBinder.FIRST_CALL_TRANSACTION, code);
            assertEquals("a synchronous call", 0, ((Integer) args[3]).intValue());
            calls++;
            // The request as the real service reads it: token, then the String16 name, nothing more.
            data.setDataPosition(0);
            data.enforceInterface(OobConstants.INTERFACE_DESCRIPTOR);
            lastChannel = data.readString();
            assertEquals("nothing after the name", 0, data.dataAvail());
            if (!handles) return false;
            answer.write(lastChannel, reply);
            reply.setDataPosition(0);
            return true;
        }
    }

    private static DataProxyException connectFails(Reply answer) {
        try {
            ParcelFileDescriptor descriptor = BinderDataProxyClient.connect(new FakeDataProxy(answer).binder(), "chan");
            fail("connect returned " + descriptor);
            return null;
        } catch (DataProxyException e) {
            return e;
        }
    }

    private static Reply throwing(final RuntimeException e) {
        return new Reply() {
            @Override
            public void write(String channel, Parcel reply) {
                throw e;
            }
        };
    }

    private static void assertMaps(RuntimeException thrown, int status) {
        DataProxyException e = connectFails(throwing(thrown));
        assertEquals(thrown + " -> " + e + " cause " + e.getCause(), Status.name(status), e.getStatusName());
        assertEquals(status, e.getStatus());
        assertSame(thrown, e.getCause());
    }

    @Test
    public void sendsTheTokenAndTheChannelNameOnce() throws Exception {
        FakeDataProxy proxy = new FakeDataProxy(throwing(new NoSuchElementException()));
        try {
            BinderDataProxyClient.connect(proxy.binder(), "camera-λ");
            fail("the fake refused the call");
        } catch (DataProxyException e) {
            assertEquals(e.toString(), "NAME_NOT_FOUND", e.getStatusName());
            assertTrue(e.getMessage(), e.getMessage().contains("\"camera-λ\""));
        }
        assertEquals(1, proxy.calls);
        assertEquals("camera-λ", proxy.lastChannel);
    }

    @Test
    public void aServiceWithoutConnectIsUnknownTransaction() {
        DataProxyException e;
        try {
            BinderDataProxyClient.connect(new FakeDataProxy(null, false).binder(), "chan");
            fail();
            return;
        } catch (DataProxyException caught) {
            e = caught;
        }
        assertEquals("UNKNOWN_TRANSACTION", e.getStatusName());
    }

    @Test
    public void errorStatusesMapByExceptionType() {
        assertMaps(new SecurityException("denied"), Status.PERMISSION_DENIED);
        assertMaps(new IllegalArgumentException("bad value"), Status.BAD_VALUE);
        assertMaps(new UnsupportedOperationException(), Status.INVALID_OPERATION);
        assertMaps(new IndexOutOfBoundsException(), Status.BAD_INDEX);
        assertMaps(new NoSuchElementException(), Status.NAME_NOT_FOUND);
        assertMaps(new NullPointerException(), Status.UNEXPECTED_NULL);
        assertMaps(new android.os.ParcelFormatException("Not enough data"), Status.NOT_ENOUGH_DATA);
        assertMaps(new RuntimeException("Unknown transaction code"), Status.UNKNOWN_TRANSACTION);
        assertMaps(new RuntimeException("Not allowed to write file descriptors here"), Status.FDS_NOT_ALLOWED);
        assertMaps(new RuntimeException("Unknown error"), Status.UNKNOWN_ERROR);
        assertMaps(new IllegalStateException("something else"), Status.UNKNOWN_ERROR);
    }

    @Test
    public void remoteExceptionsAreConnectionLostOrFailedTransaction() {
        DataProxyException dead = connectFails(new Reply() {
            @Override
            public void write(String channel, Parcel reply) throws RemoteException {
                throw new DeadObjectException();
            }
        });
        assertEquals("DEAD_OBJECT", dead.getStatusName());
        assertEquals(DataProxyException.CONNECTION_LOST, dead.getErrorCode());
        DataProxyException tooLarge = connectFails(new Reply() {
            @Override
            public void write(String channel, Parcel reply) throws RemoteException {
                throw new TransactionTooLargeException();
            }
        });
        assertEquals("FAILED_TRANSACTION", tooLarge.getStatusName());
    }
}
