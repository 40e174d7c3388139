/**
 * llama-ffm: llama.cpp for Java. See {@link io.github.llamaffm} for the guide.
 */
module io.github.llamaffm {
    requires io.github.llamaffm.bindings;
    requires com.fasterxml.jackson.databind;
    requires java.net.http;
    requires com.fasterxml.jackson.datatype.jdk8;

    exports io.github.llamaffm;
    exports io.github.llamaffm.gguf;
}
