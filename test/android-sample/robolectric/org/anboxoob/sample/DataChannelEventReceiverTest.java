package org.anboxoob.sample;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.app.Application;
import android.content.Intent;
import android.os.Looper;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.anboxoob.protocol.OobConstants;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.annotation.Config;

/**
 * The receiver and the registry, fed the Intents `am broadcast` makes, on Robolectric's Android 14
 * with the anbox flavor's merged manifest (pom.xml).
 */
@RunWith(RobolectricTestRunner.class)
@Config(sdk = 34)
public class DataChannelEventReceiverTest {
    private final List<String> events = new ArrayList<String>();
    private final ChannelRegistry.Listener listener = new ChannelRegistry.Listener() {
        @Override
        public void onChannelsChanged(String event, List<String> names, List<String> live) {
            assertTrue("listeners run on the main thread", Looper.myLooper() == Looper.getMainLooper());
            events.add(event + " " + names + " -> " + live);
        }
    };
    private Application context;

    @Before
    public void setUp() {
        context = RuntimeEnvironment.getApplication();
        ChannelRegistry.get().addListener(listener);
    }

    @After
    public void tearDown() {
        ChannelRegistry registry = ChannelRegistry.get();
        registry.removeListener(listener);
        // The registry is per process; leave it empty for the next test.
        List<String> left = registry.liveChannels();
        if (!left.isEmpty()) registry.onEvent(OobConstants.EVENT_DESTROYED, left.toArray(new String[0]));
        shadowOf(Looper.getMainLooper()).idle();
    }

    private static Intent am(String event, String namesFlag, String names) throws Exception {
        return AmBroadcast.intent("-a", OobConstants.CHANNEL_STATUS_ACTION, "--es", OobConstants.EXTRA_EVENT, event,
                namesFlag, OobConstants.EXTRA_DATA_CHANNEL_NAMES, names);
    }

    private void deliverToManifestReceiver(Intent intent) {
        new DataChannelEventReceiver().onReceive(context, intent);
        shadowOf(Looper.getMainLooper()).idle();
    }

    @Test
    public void amBuildsTheExtrasTheDaemonSends() throws Exception {
        Intent intent = am("created", "--esa", "a,b");
        assertEquals(OobConstants.CHANNEL_STATUS_ACTION, intent.getAction());
        assertEquals("created", intent.getStringExtra(OobConstants.EXTRA_EVENT));
        assertArrayEquals(new String[] {"a", "b"}, intent.getStringArrayExtra(OobConstants.EXTRA_DATA_CHANNEL_NAMES));
    }

    @Test
    public void createdThenDestroyedUpdatesTheRegistryAndTellsListenersInOrder() throws Exception {
        deliverToManifestReceiver(am("created", "--esa", "a,b"));
        deliverToManifestReceiver(am("created", "--esa", "c"));
        deliverToManifestReceiver(am("destroyed", "--esa", "a"));
        assertEquals(Arrays.asList("b", "c"), ChannelRegistry.get().liveChannels());
        assertEquals(Arrays.asList("created [a, b] -> [a, b]", "created [c] -> [a, b, c]", "destroyed [a] -> [b, c]"), events);
        assertTrue(ChannelRegistry.get().isLive("b"));
    }

    @Test
    public void listenersAreCalledOnTheMainLooperOnlyWhenItRuns() throws Exception {
        new DataChannelEventReceiver().onReceive(context, am("created", "--esa", "x"));
        // The registry changed at once; listeners wait for the main thread.
        assertEquals(Arrays.asList("x"), ChannelRegistry.get().liveChannels());
        assertEquals(0, events.size());
        shadowOf(Looper.getMainLooper()).idle();
        assertEquals(Arrays.asList("created [x] -> [x]"), events);
    }

    @Test
    public void aHandTypedCommaSeparatedStringExtraIsAccepted() throws Exception {
        deliverToManifestReceiver(am("created", "--es", "p,q"));
        assertEquals(Arrays.asList("p", "q"), ChannelRegistry.get().liveChannels());
    }

    @Test
    public void anEscapedCommaIsNoSplitPointAndAmKeepsTheBackslash() throws Exception {
        // Android 14's am splits --esa on commas not preceded by a backslash and does not unescape:
        // a name with a comma cannot travel intact, which is why the daemon refuses such names.
        deliverToManifestReceiver(am("created", "--esa", "with\\,comma,plain"));
        assertEquals(Arrays.asList("with\\,comma", "plain"), ChannelRegistry.get().liveChannels());
    }

    @Test
    public void unknownEventsMissingNamesAndOtherActionsChangeNothing() throws Exception {
        deliverToManifestReceiver(am("renamed", "--esa", "a"));
        deliverToManifestReceiver(AmBroadcast.intent("-a", OobConstants.CHANNEL_STATUS_ACTION, "--es", OobConstants.EXTRA_EVENT, "created"));
        deliverToManifestReceiver(AmBroadcast.intent("-a", "com.example.OTHER", "--es", OobConstants.EXTRA_EVENT, "created",
                "--esa", OobConstants.EXTRA_DATA_CHANNEL_NAMES, "a"));
        deliverToManifestReceiver(null);
        assertEquals(new ArrayList<String>(), ChannelRegistry.get().liveChannels());
        assertEquals(new ArrayList<String>(), events);
    }

    @Test
    public void aRunTimeReceiverGetsSentBroadcastsAndTheManifestCopyIsIgnored() throws Exception {
        // Robolectric delivers a sent broadcast to the merged manifest's receiver too (as Android 8+
        // does when the sender names the package: `anbox-oob serve --broadcast-package`).
        DataChannelEventReceiver runtime = DataChannelEventReceiver.registerAtRuntime(context);
        try {
            context.sendBroadcast(am("created", "--esa", "live1,live2"));
            shadowOf(Looper.getMainLooper()).idle();
            // Applied once: the manifest instance ignored its copy while the run-time one exists.
            assertEquals(Arrays.asList("created [live1, live2] -> [live1, live2]"), events);
        } finally {
            DataChannelEventReceiver.unregister(context, runtime);
        }
        assertFalse(ChannelRegistry.get().hasRuntimeReceiver());
        // Unregistered: the manifest receiver is in charge again.
        context.sendBroadcast(am("destroyed", "--esa", "live1"));
        shadowOf(Looper.getMainLooper()).idle();
        assertEquals(Arrays.asList("created [live1, live2] -> [live1, live2]", "destroyed [live1] -> [live2]"), events);
    }

    @Test
    public void removedListenersAreNotCalled() throws Exception {
        ChannelRegistry.get().removeListener(listener);
        deliverToManifestReceiver(am("created", "--esa", "gone"));
        assertEquals(0, events.size());
        assertEquals(Arrays.asList("gone"), ChannelRegistry.get().liveChannels());
    }
}
