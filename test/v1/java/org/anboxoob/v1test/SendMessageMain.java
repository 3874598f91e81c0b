package org.anboxoob.v1test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;

import org.anboxoob.protocol.DataProxyException;
import org.anboxoob.protocol.InterfaceTokenLayout;
import org.anboxoob.protocol.PlatformApiCall;

/**
 * The android-sample's PlatformApiCall (what PlatformAPISkeleton.sendMessage uses) against a real
 * daemon over its service socket. Usage: SendMessageMain SERVICE_SOCKET TYPE DATA. Prints one line:
 * "sent", "not-sent CODE REASON" or "error STATUS CODE DETAIL"; exit 0, 5 (not sent) or 3 (error).
 */
public final class SendMessageMain {
    private SendMessageMain() {}

    public static void main(String[] args) throws Exception {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(args[0]));
            InputStream in = Channels.newInputStream(channel);
            OutputStream out = Channels.newOutputStream(channel);
            PlatformApiCall.Result result = PlatformApiCall.sendMessage(in, out, args[1], args[2], InterfaceTokenLayout.API30, 7);
            if (result.sent) {
                System.out.println("sent");
                return;
            }
            System.out.println("not-sent " + result.code + " " + result.reason);
            System.exit(5);
        } catch (DataProxyException e) {
            System.out.println("error " + e.getStatus() + " " + e.getErrorCode() + " " + e.getDetail());
            System.exit(3);
        }
    }
}
