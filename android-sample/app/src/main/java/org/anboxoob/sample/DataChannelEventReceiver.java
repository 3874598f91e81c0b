package org.anboxoob.sample;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.os.Build;
import android.util.Log;

import org.anboxoob.protocol.OobConstants;

/**
 * Receives {@code com.canonical.anbox.BROADCAST_DATA_CHANNELS_STATUS} (extras {@code event} =
 * {@code created} | {@code destroyed}, {@code data-channel-names} = String[]) and feeds
 * {@link ChannelRegistry}.
 *
 * <p>Declared in the manifest, and also registered at run time by {@link MainActivity}: Android 8+
 * delivers implicit broadcasts to manifest receivers only when the sender names the package, and
 * Android 14+ queues broadcasts for cached apps, so a running app relies on the run-time receiver.
 * When both exist, the manifest instance ignores its copy: it would be a duplicate, possibly
 * delivered out of order with the run-time one.
 */
public class DataChannelEventReceiver extends BroadcastReceiver {
    private static final String TAG = "AnboxOobSample";

    private final boolean registeredAtRuntime;

    /** Used by the system for the manifest-declared receiver. */
    public DataChannelEventReceiver() {
        this(false);
    }

    private DataChannelEventReceiver(boolean registeredAtRuntime) {
        this.registeredAtRuntime = registeredAtRuntime;
    }

    @Override
    public void onReceive(Context context, Intent intent) {
        if (intent == null || !OobConstants.CHANNEL_STATUS_ACTION.equals(intent.getAction())) return;
        ChannelRegistry registry = ChannelRegistry.get();
        if (!registeredAtRuntime && registry.hasRuntimeReceiver()) return;
        String event = intent.getStringExtra(OobConstants.EXTRA_EVENT);
        String[] names = intent.getStringArrayExtra(OobConstants.EXTRA_DATA_CHANNEL_NAMES);
        if (names == null) {
            // Tolerate a hand-typed `am broadcast ... --es data-channel-names foo,bar`.
            String joined = intent.getStringExtra(OobConstants.EXTRA_DATA_CHANNEL_NAMES);
            if (joined != null) names = joined.split(",");
        }
        Log.d(TAG, (registeredAtRuntime ? "run-time" : "manifest") + " receiver: " + event);
        registry.onEvent(event, names);
    }

    /**
     * Registers a receiver for the channel status action until {@link #unregister}. Exported: the
     * broadcasts come from another process (RECEIVER_EXPORTED is required from Android 13 on).
     */
    public static DataChannelEventReceiver registerAtRuntime(Context context) {
        DataChannelEventReceiver receiver = new DataChannelEventReceiver(true);
        IntentFilter filter = new IntentFilter(OobConstants.CHANNEL_STATUS_ACTION);
        if (Build.VERSION.SDK_INT >= 33) {
            context.registerReceiver(receiver, filter, Context.RECEIVER_EXPORTED);
        } else {
            context.registerReceiver(receiver, filter);
        }
        ChannelRegistry.get().runtimeReceiverRegistered(true);
        return receiver;
    }

    public static void unregister(Context context, DataChannelEventReceiver receiver) {
        if (receiver == null) return;
        context.unregisterReceiver(receiver);
        ChannelRegistry.get().runtimeReceiverRegistered(false);
    }
}
