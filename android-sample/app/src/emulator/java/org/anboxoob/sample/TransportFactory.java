package org.anboxoob.sample;

import android.content.Context;

/** The emulator flavor: anbox-oob-emulator's stream mode over `adb reverse` (any device). */
final class TransportFactory {
    private TransportFactory() {}

    static DataProxyClient create(Context context) {
        return new StreamDataProxyClient();
    }
}
