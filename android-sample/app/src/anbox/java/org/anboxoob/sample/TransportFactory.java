package org.anboxoob.sample;

import android.content.Context;

/** The anbox flavor: kernel binder to Anbox's data proxy (a system app; see README.md). */
final class TransportFactory {
    private TransportFactory() {}

    static DataProxyClient create(Context context) {
        return new BinderDataProxyClient();
    }
}
