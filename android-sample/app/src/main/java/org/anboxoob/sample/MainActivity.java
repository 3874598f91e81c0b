package org.anboxoob.sample;

import android.app.Activity;
import android.os.Bundle;
import android.os.ParcelFileDescriptor;
import android.util.Log;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ListView;
import android.widget.ScrollView;
import android.widget.TextView;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

import org.anboxoob.protocol.DataProxyException;
import org.anboxoob.protocol.OobConstants;
import org.anboxoob.protocol.Status;

/**
 * Live channels from broadcasts, connect, send text, received log; reconnects when the channel it
 * was asked for is destroyed and created again.
 *
 * <p>Threads: the UI state below is touched on the main thread only. {@code connect} (a binder call
 * or a socket handshake) runs on {@link #connector}; reading and writing run on the
 * {@link ChannelSession}'s own threads. Results come back through {@link #runOnUiThread}.
 */
public class MainActivity extends Activity implements ChannelRegistry.Listener, ChannelSession.Listener {
    private static final String TAG = "AnboxOobSample";
    private static final int MAX_LOG_CHARS = 20_000;
    /** Saved instance state: the channel the user asked for, reconnected after a recreation. */
    static final String STATE_WANTED_CHANNEL = "wanted-channel";

    private final ExecutorService connector = Executors.newSingleThreadExecutor(ChannelSession.named("oob-connect"));
    private final ChannelRegistry registry = ChannelRegistry.get();

    private DataProxyClient client;
    private DataChannelEventReceiver runtimeReceiver;
    private ArrayAdapter<String> channelsAdapter;
    private TextView statusView;
    private TextView channelsEmptyView;
    private TextView logView;
    private ScrollView logScroll;
    private EditText channelInput;
    private EditText messageInput;

    // --- main-thread state
    /** The channel the user asked for; null after Disconnect. Reconnected when created again. */
    private String wantedChannel;
    /** The live connection, or null. */
    private ChannelSession session;
    /** Bumped whenever the wish changes: results of older connect attempts are discarded. */
    private int generation;
    /** The generation of the connect attempt under way, or -1. */
    private int connectingGeneration = -1;
    /** Set on the main thread in onDestroy; read by the session threads before they post. */
    private volatile boolean destroyed;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        statusView = (TextView) findViewById(R.id.status);
        channelsEmptyView = (TextView) findViewById(R.id.channels_empty);
        logView = (TextView) findViewById(R.id.log);
        logScroll = (ScrollView) findViewById(R.id.log_scroll);
        channelInput = (EditText) findViewById(R.id.channel_name);
        messageInput = (EditText) findViewById(R.id.message);
        ListView channelsView = (ListView) findViewById(R.id.channels);
        Button connectButton = (Button) findViewById(R.id.connect);
        Button disconnectButton = (Button) findViewById(R.id.disconnect);
        Button sendButton = (Button) findViewById(R.id.send);

        client = TransportFactory.create(this);

        channelsAdapter = new ArrayAdapter<String>(this, android.R.layout.simple_list_item_1);
        channelsView.setAdapter(channelsAdapter);
        channelsView.setOnItemClickListener(new AdapterView.OnItemClickListener() {
            @Override
            public void onItemClick(AdapterView<?> parent, View view, int position, long id) {
                String name = channelsAdapter.getItem(position);
                channelInput.setText(name);
                connectTo(name);
            }
        });
        connectButton.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                String name = channelInput.getText().toString().trim();
                if (name.isEmpty()) log("type a channel name first");
                else connectTo(name);
            }
        });
        disconnectButton.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                disconnect();
            }
        });
        sendButton.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                sendMessage();
            }
        });

        registry.addListener(this);
        runtimeReceiver = DataChannelEventReceiver.registerAtRuntime(this);
        showChannels(registry.liveChannels());
        log("transport: " + client.describe());
        updateStatus();

        // Recreated (a configuration change not listed in android:configChanges, or the process
        // was killed in the background): reconnect to the channel the user had asked for.
        String saved = savedInstanceState != null ? savedInstanceState.getString(STATE_WANTED_CHANNEL) : null;
        if (saved != null) {
            channelInput.setText(saved);
            connectTo(saved);
        }
    }

    @Override
    protected void onSaveInstanceState(Bundle outState) {
        super.onSaveInstanceState(outState);
        if (wantedChannel != null) outState.putString(STATE_WANTED_CHANNEL, wantedChannel);
    }

    @Override
    protected void onDestroy() {
        destroyed = true;
        DataChannelEventReceiver.unregister(this, runtimeReceiver);
        runtimeReceiver = null;
        registry.removeListener(this);
        wantedChannel = null;
        generation++;
        closeSession();
        // A connect under way finishes on its own; its result is discarded (and its descriptor
        // closed) in onConnectResult because the activity is destroyed.
        connector.shutdown();
        super.onDestroy();
    }

    // ------------------------------------------------------------------ actions (main thread)

    private void connectTo(String name) {
        if (name.equals(wantedChannel) && (session != null || connectingGeneration == generation)) {
            log("already " + (session != null ? "connected to " : "connecting to ") + name);
            return;
        }
        wantedChannel = name;
        generation++;
        closeSession();
        startConnect();
    }

    private void disconnect() {
        if (wantedChannel == null && session == null) return;
        log("disconnect from " + wantedChannel);
        wantedChannel = null;
        generation++;
        closeSession();
        updateStatus();
    }

    private void startConnect() {
        final String name = wantedChannel;
        if (name == null || destroyed || connectingGeneration == generation) return;
        final int attempt = generation;
        connectingGeneration = attempt;
        log("connecting to " + name + " ...");
        updateStatus();
        try {
            connector.execute(new Runnable() {
                @Override
                public void run() {
                    ParcelFileDescriptor descriptor = null;
                    DataProxyException failure = null;
                    try {
                        descriptor = client.connect(name);
                    } catch (DataProxyException e) {
                        failure = e;
                    } catch (RuntimeException e) {
                        failure = new DataProxyException(Status.UNKNOWN_ERROR, "INTERNAL_ERROR", e.toString(), e);
                    }
                    final ParcelFileDescriptor result = descriptor;
                    final DataProxyException error = failure;
                    runOnUiThread(new Runnable() {
                        @Override
                        public void run() {
                            onConnectResult(attempt, name, result, error);
                        }
                    });
                }
            });
        } catch (RejectedExecutionException e) {
            connectingGeneration = -1;
        }
    }

    private void onConnectResult(int attempt, String name, ParcelFileDescriptor descriptor, DataProxyException error) {
        if (connectingGeneration == attempt) connectingGeneration = -1;
        if (attempt != generation || destroyed || !name.equals(wantedChannel)) {
            // Superseded (Disconnect, another channel, the channel was destroyed meanwhile): whatever
            // superseded it has started the next attempt if one is due.
            closeQuietly(descriptor);
            return;
        }
        if (error != null) {
            Log.w(TAG, "connect " + name + " failed", error);
            log("connect " + name + " failed: " + error.getMessage());
            if (registry.isLive(name)) log("will retry when the channel is created again, or press Connect");
            updateStatus();
            return;
        }
        session = new ChannelSession(name, descriptor, this);
        session.start();
        log("connected to " + name);
        updateStatus();
    }

    private void sendMessage() {
        String text = messageInput.getText().toString();
        if (text.isEmpty()) return;
        if (session == null) {
            log("not connected; nothing sent");
            return;
        }
        // A line per message: the browser (and socat, and anbox-oob connect) see one line each.
        session.send((text + "\n").getBytes(StandardCharsets.UTF_8));
        log("→ " + text);
        messageInput.setText("");
    }

    private void closeSession() {
        if (session != null) {
            session.close(); // the reader thread closes the descriptor and reports onClosed
            session = null;
        }
    }

    // ------------------------------------------------------------------ callbacks

    @Override
    public void onChannelsChanged(String event, List<String> names, List<String> live) {
        showChannels(live);
        log("broadcast: " + event + " " + names);
        String wanted = wantedChannel;
        if (wanted == null || !names.contains(wanted)) return;
        if (OobConstants.EVENT_DESTROYED.equals(event)) {
            // The socket is gone (the reader sees EOF too); drop the session and any attempt.
            generation++;
            closeSession();
            log("channel " + wanted + " was destroyed; will reconnect when it is created again");
            updateStatus();
        } else if (session == null) {
            log("channel " + wanted + " was created; reconnecting");
            startConnect();
        }
    }

    @Override
    public void onReceived(ChannelSession from, byte[] data, int length, final String text) {
        // Bytes may still arrive between onDestroy and the reader thread seeing its socket shut:
        // nothing is posted for a destroyed activity, and a post already queued does nothing.
        if (text.isEmpty() || destroyed) return;
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                if (!destroyed) log("← " + text);
            }
        });
    }

    @Override
    public void onClosed(final ChannelSession closed, final IOException error) {
        if (destroyed) return;
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                if (session == closed) session = null;
                if (destroyed) return;
                log("channel " + closed.channel() + " closed" + (error != null ? ": " + error.getMessage() : ""));
                updateStatus();
            }
        });
    }

    // ------------------------------------------------------------------ UI helpers

    private void showChannels(List<String> live) {
        channelsAdapter.clear();
        channelsAdapter.addAll(live);
        channelsEmptyView.setVisibility(live.isEmpty() ? View.VISIBLE : View.GONE);
    }

    private void updateStatus() {
        String state;
        if (session != null) state = "connected to " + session.channel();
        else if (wantedChannel != null && connectingGeneration == generation) state = "connecting to " + wantedChannel;
        else if (wantedChannel != null) state = "waiting for channel " + wantedChannel;
        else state = "not connected";
        statusView.setText(state);
    }

    private void log(String line) {
        String stamp = new SimpleDateFormat("HH:mm:ss", Locale.US).format(new Date());
        logView.append(stamp + "  " + line + "\n");
        CharSequence all = logView.getText();
        if (all.length() > MAX_LOG_CHARS) logView.setText(all.subSequence(all.length() - MAX_LOG_CHARS / 2, all.length()));
        logScroll.post(new Runnable() {
            @Override
            public void run() {
                logScroll.fullScroll(View.FOCUS_DOWN);
            }
        });
    }

    private static void closeQuietly(ParcelFileDescriptor descriptor) {
        if (descriptor == null) return;
        try {
            descriptor.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
