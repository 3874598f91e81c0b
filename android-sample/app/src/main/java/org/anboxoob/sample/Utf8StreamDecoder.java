package org.anboxoob.sample;

import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Decodes a byte stream as UTF-8 chunk by chunk: a character split across two reads is kept until
 * its last byte arrives. Invalid bytes become U+FFFD. Not thread-safe: one per reader thread.
 */
final class Utf8StreamDecoder {
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(0);

    String decode(byte[] bytes, int length) {
        ByteBuffer input = ByteBuffer.allocate(pending.remaining() + length);
        input.put(pending).put(bytes, 0, length);
        // Through Buffer: ByteBuffer.flip() returning ByteBuffer does not exist on older Android.
        ((Buffer) input).flip();
        CharBuffer output = CharBuffer.allocate(input.remaining() + 1);
        decoder.decode(input, output, false);
        pending = input.slice();
        ((Buffer) output).flip();
        return output.toString();
    }
}
