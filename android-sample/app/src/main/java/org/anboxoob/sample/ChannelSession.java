package org.anboxoob.sample;

import android.os.ParcelFileDescriptor;
import android.system.ErrnoException;
import android.system.Os;
import android.system.OsConstants;
import android.util.Log;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One connected data channel: the descriptor from {@link DataProxyClient#connect}, a reader thread
 * and a writer thread. The same for both transports.
 *
 * <p>Ownership: the session owns the descriptor. The reader thread closes it when it ends — at EOF
 * (the browser closed the channel, or the platform replaced this connection), on an error, or
 * after {@link #close()} shut the socket down — and then calls {@link Listener#onClosed} exactly
 * once. Nobody else closes it, so no thread ever reads or writes a closed (and maybe reused)
 * descriptor number.
 */
final class ChannelSession {
    private static final String TAG = "AnboxOobSample";

    interface Listener {
        /**
         * On the reader thread. {@code data[0..length)} is valid during the call only (the buffer
         * is reused); {@code text} is the bytes decoded as UTF-8 across reads.
         */
        void onReceived(ChannelSession session, byte[] data, int length, String text);

        /** On the reader thread, once. {@code error} is null for a clean end (EOF or close()). */
        void onClosed(ChannelSession session, IOException error);
    }

    private final String channel;
    private final ParcelFileDescriptor descriptor;
    private final Listener listener;
    private final FileInputStream in;
    private final FileOutputStream out;
    private final Thread reader;
    private final ExecutorService writer;
    private final AtomicBoolean closing = new AtomicBoolean();
    private volatile IOException writeError;

    ChannelSession(String channel, ParcelFileDescriptor descriptor, Listener listener) {
        this.channel = channel;
        this.descriptor = descriptor;
        this.listener = listener;
        // Plain streams over the descriptor; neither closes it (the session does, once).
        this.in = new FileInputStream(descriptor.getFileDescriptor());
        this.out = new FileOutputStream(descriptor.getFileDescriptor());
        this.writer = Executors.newSingleThreadExecutor(named("oob-write-" + channel));
        this.reader = new Thread(new Runnable() {
            @Override
            public void run() {
                readLoop();
            }
        }, "oob-read-" + channel);
    }

    String channel() {
        return channel;
    }

    void start() {
        reader.start();
    }

    /** Queues bytes for the writer thread; never blocks the caller. */
    void send(final byte[] data) {
        try {
            writer.execute(new Runnable() {
                @Override
                public void run() {
                    try {
                        out.write(data);
                    } catch (IOException e) {
                        if (!closing.get()) {
                            writeError = e;
                            Log.w(TAG, "write to channel " + channel + " failed", e);
                            close();
                        }
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            Log.w(TAG, "channel " + channel + " is closed; " + data.length + " bytes not sent");
        }
    }

    /**
     * Ends the session: shuts the socket down (the peer sees EOF, the blocked reader wakes up and
     * closes the descriptor) and stops the writer. Safe from any thread, any number of times.
     */
    void close() {
        if (!closing.compareAndSet(false, true)) return;
        writer.shutdownNow();
        shutdownSocket();
    }

    private void shutdownSocket() {
        try {
            Os.shutdown(descriptor.getFileDescriptor(), OsConstants.SHUT_RDWR);
        } catch (ErrnoException e) {
            // ENOTCONN: the peer is gone already, and the reader sees EOF by itself.
            Log.d(TAG, "shutdown of channel " + channel + ": " + e.getMessage());
        }
    }

    private void readLoop() {
        IOException error = null;
        Utf8StreamDecoder decoder = new Utf8StreamDecoder();
        byte[] buffer = new byte[16 * 1024];
        try {
            while (true) {
                int n = in.read(buffer);
                if (n < 0) break;
                if (n == 0) continue;
                listener.onReceived(this, buffer, n, decoder.decode(buffer, n));
            }
        } catch (IOException e) {
            if (!closing.get()) error = e;
        } finally {
            // Wake a writer blocked on a full socket buffer, then let it finish before the
            // descriptor is closed: a closed descriptor number may be reused at once.
            if (!closing.getAndSet(true)) shutdownSocket();
            writer.shutdownNow();
            try {
                if (!writer.awaitTermination(2, TimeUnit.SECONDS)) Log.w(TAG, "writer of channel " + channel + " did not stop");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                descriptor.close();
            } catch (IOException e) {
                Log.d(TAG, "closing channel " + channel + ": " + e.getMessage());
            }
            listener.onClosed(this, error != null ? error : writeError);
        }
    }

    static ThreadFactory named(final String name) {
        return new ThreadFactory() {
            @Override
            public Thread newThread(Runnable runnable) {
                Thread thread = new Thread(runnable, name);
                thread.setDaemon(true);
                return thread;
            }
        };
    }
}
