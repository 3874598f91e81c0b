package org.anboxoob.sample;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.content.Intent;
import android.os.Looper;
import android.widget.EditText;
import android.widget.ListView;
import android.widget.TextView;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.anboxoob.protocol.OobConstants;
import org.junit.After;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.Robolectric;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.android.controller.ActivityController;
import org.robolectric.annotation.Config;

/**
 * MainActivity (anbox flavor) with its real layout and resources (linked by aapt2, handed to
 * Robolectric by pom.xml). On Robolectric there is no data proxy: ServiceManager has no
 * org.anbox.webrtc.IDataProxyService, so every connect fails, as on a device without Anbox.
 */
@RunWith(RobolectricTestRunner.class)
@Config(sdk = 34)
public class MainActivityTest {
    private static final long WAIT_MS = 20_000;

    private final List<ActivityController<MainActivity>> controllers = new ArrayList<ActivityController<MainActivity>>();

    private ActivityController<MainActivity> launch() {
        ActivityController<MainActivity> controller = Robolectric.buildActivity(MainActivity.class).setup();
        controllers.add(controller);
        return controller;
    }

    /** Destroys what a test left alive (a failed assertion), so no receiver leaks into other tests. */
    @After
    public void cleanUp() {
        for (ActivityController<MainActivity> controller : controllers) {
            if (!controller.get().isDestroyed()) controller.pause().stop().destroy();
        }
        ChannelRegistry registry = ChannelRegistry.get();
        if (!registry.liveChannels().isEmpty()) {
            registry.onEvent(OobConstants.EVENT_DESTROYED, registry.liveChannels().toArray(new String[0]));
        }
        shadowOf(Looper.getMainLooper()).idle();
    }

    private static String text(MainActivity activity, int id) {
        return ((TextView) activity.findViewById(id)).getText().toString();
    }

    /** Runs the main looper until the activity's log holds `needle` (the connect runs on its own thread). */
    private static void awaitLog(MainActivity activity, String needle) throws InterruptedException {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (!text(activity, R.id.log).contains(needle)) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("the log never showed \"" + needle + "\":\n" + text(activity, R.id.log));
            }
            Thread.sleep(10);
            shadowOf(Looper.getMainLooper()).idle();
        }
    }

    @Test
    public void dataReceivedAfterOnDestroyIsNotPosted() throws Exception {
        ActivityController<MainActivity> controller = launch();
        final MainActivity activity = controller.get();
        controller.pause().stop().destroy();
        // A session's reader thread delivering bytes that were already in flight.
        Thread reader = new Thread(new Runnable() {
            @Override
            public void run() {
                byte[] bytes = "late\n".getBytes(StandardCharsets.UTF_8);
                activity.onReceived(null, bytes, bytes.length, "late\n");
            }
        });
        reader.start();
        reader.join();
        shadowOf(Looper.getMainLooper()).idle();
        assertFalse(text(activity, R.id.log), text(activity, R.id.log).contains("late"));
    }

    @Test
    public void dataReceivedWhileAliveIsLogged() throws Exception {
        ActivityController<MainActivity> controller = launch();
        final MainActivity activity = controller.get();
        Thread reader = new Thread(new Runnable() {
            @Override
            public void run() {
                byte[] bytes = "hello\n".getBytes(StandardCharsets.UTF_8);
                activity.onReceived(null, bytes, bytes.length, "hello\n");
            }
        });
        reader.start();
        reader.join();
        awaitLog(activity, "← hello");
        controller.pause().stop().destroy();
    }

    @Test
    public void theWantedChannelSurvivesARecreation() throws Exception {
        ActivityController<MainActivity> controller = launch();
        MainActivity first = controller.get();
        ((EditText) first.findViewById(R.id.channel_name)).setText("foo");
        first.findViewById(R.id.connect).performClick();
        awaitLog(first, "connect foo failed");
        assertEquals("waiting for channel foo", text(first, R.id.status));

        // A configuration change the manifest does not list (here: forced) recreates the activity.
        controller.recreate();
        MainActivity second = controller.get();
        assertTrue("a new instance", second != first);
        assertEquals("foo", text(second, R.id.channel_name));
        awaitLog(second, "connect foo failed");
        assertEquals("waiting for channel foo", text(second, R.id.status));
        controller.pause().stop().destroy();
    }

    @Test
    public void channelsFromBroadcastsAreListedWhileTheActivityLives() throws Exception {
        ActivityController<MainActivity> controller = launch();
        MainActivity activity = controller.get();
        ListView channels = (ListView) activity.findViewById(R.id.channels);
        assertEquals(0, channels.getAdapter().getCount());

        Intent created = AmBroadcast.intent("-a", OobConstants.CHANNEL_STATUS_ACTION, "--es", OobConstants.EXTRA_EVENT, "created",
                "--esa", OobConstants.EXTRA_DATA_CHANNEL_NAMES, "foo,bar");
        RuntimeEnvironment.getApplication().sendBroadcast(created);
        shadowOf(Looper.getMainLooper()).idle();
        assertEquals(2, channels.getAdapter().getCount());
        assertEquals("foo", channels.getAdapter().getItem(0));
        assertTrue(text(activity, R.id.log), text(activity, R.id.log).contains("broadcast: created [foo, bar]"));

        controller.pause().stop().destroy();
        assertFalse("onDestroy unregisters the run-time receiver", ChannelRegistry.get().hasRuntimeReceiver());
    }
}
