package org.anboxoob.sample;

import android.os.Handler;
import android.os.Looper;
import android.util.Log;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.anboxoob.protocol.OobConstants;

/**
 * The data channels that exist now, as learnt from channel status broadcasts, for the whole
 * process: the manifest receiver (instantiated by the system per broadcast) and the run-time one
 * feed the same instance. Broadcasts are not sticky, so channels created before this process
 * started are unknown until they change; the UI lets people type a name too.
 *
 * <p>Listeners are called on the main thread, in the order events arrived.
 */
public final class ChannelRegistry {
    private static final String TAG = "AnboxOobSample";
    private static final ChannelRegistry INSTANCE = new ChannelRegistry();

    /** Told about every event that changed something. */
    public interface Listener {
        /**
         * @param event {@link OobConstants#EVENT_CREATED} or {@link OobConstants#EVENT_DESTROYED}
         * @param names the channels of this event
         * @param live every live channel after it, in order of creation
         */
        void onChannelsChanged(String event, List<String> names, List<String> live);
    }

    private final Object lock = new Object();
    private final LinkedHashSet<String> live = new LinkedHashSet<String>();
    private final CopyOnWriteArrayList<Listener> listeners = new CopyOnWriteArrayList<Listener>();
    private final Handler mainThread = new Handler(Looper.getMainLooper());
    private int runtimeReceivers;

    private ChannelRegistry() {}

    public static ChannelRegistry get() {
        return INSTANCE;
    }

    /** Applies one broadcast. Unknown events and empty name lists are logged and ignored. */
    public void onEvent(String event, String[] names) {
        if (names == null || names.length == 0) {
            Log.w(TAG, "channel status broadcast without " + OobConstants.EXTRA_DATA_CHANNEL_NAMES + "; ignored");
            return;
        }
        boolean created = OobConstants.EVENT_CREATED.equals(event);
        if (!created && !OobConstants.EVENT_DESTROYED.equals(event)) {
            Log.w(TAG, "channel status broadcast with unknown event \"" + event + "\"; ignored");
            return;
        }
        final List<String> changed = Collections.unmodifiableList(new ArrayList<String>(Arrays.asList(names)));
        final List<String> snapshot;
        synchronized (lock) {
            for (String name : changed) {
                if (name == null || name.isEmpty()) continue;
                if (created) live.add(name);
                else live.remove(name);
            }
            snapshot = Collections.unmodifiableList(new ArrayList<String>(live));
        }
        Log.i(TAG, "channels " + event + ": " + changed + "; live now " + snapshot);
        final String finalEvent = event;
        mainThread.post(new Runnable() {
            @Override
            public void run() {
                for (Listener listener : listeners) listener.onChannelsChanged(finalEvent, changed, snapshot);
            }
        });
    }

    public List<String> liveChannels() {
        synchronized (lock) {
            return Collections.unmodifiableList(new ArrayList<String>(live));
        }
    }

    public boolean isLive(String name) {
        synchronized (lock) {
            return live.contains(name);
        }
    }

    public void addListener(Listener listener) {
        listeners.addIfAbsent(listener);
    }

    public void removeListener(Listener listener) {
        listeners.remove(listener);
    }

    void runtimeReceiverRegistered(boolean registered) {
        synchronized (lock) {
            runtimeReceivers += registered ? 1 : -1;
        }
    }

    /** While a run-time receiver is registered, the manifest receiver's copies are duplicates. */
    boolean hasRuntimeReceiver() {
        synchronized (lock) {
            return runtimeReceivers > 0;
        }
    }
}
