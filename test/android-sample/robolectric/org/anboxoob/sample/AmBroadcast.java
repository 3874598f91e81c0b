package org.anboxoob.sample;

import android.content.Intent;
import android.os.ShellCommand;

/**
 * Intents built exactly as {@code adb shell am broadcast <args>} builds them: the framework's own
 * parser of am's intent arguments ({@code Intent.parseCommandArgs}, hidden, in android-all), fed
 * the arguments through a {@code ShellCommand} as ActivityManagerShellCommand does.
 */
final class AmBroadcast {
    private AmBroadcast() {}

    static Intent intent(String... args) throws Exception {
        ShellCommand command = new ShellCommand() {
            @Override
            public int onCommand(String cmd) {
                return 0;
            }

            @Override
            public void onHelp() {}
        };
        command.init(null, null, null, null, args, 0);
        return Intent.parseCommandArgs(command, null);
    }
}
