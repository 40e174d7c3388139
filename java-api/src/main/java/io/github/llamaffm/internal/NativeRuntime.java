package io.github.llamaffm.internal;

import io.github.llamaffm.NativeLibraryException;
import io.github.llamaffm.bindings.Llama;
import io.github.llamaffm.bindings.ggml_log_callback;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One-time process setup: load the libraries, check they match the bindings, route llama.cpp's log to
 * {@link System.Logger}, load dynamic backends, and call {@code llama_backend_init}. Every owner calls
 * {@link #ensureInitialized()} before its first native call.
 */
public final class NativeRuntime {
    private NativeRuntime() {}

    private static final System.Logger NATIVE_LOG = System.getLogger("io.github.llamaffm.native");
    private static volatile boolean initialized;
    private static volatile BackendLoader.Choice backend;
    /** Level of the last log line, for GGML_LOG_LEVEL_CONT continuations. */
    private static volatile int lastLevel = Llama.GGML_LOG_LEVEL_INFO();
    /** Last error line logged by llama.cpp on each thread, so exceptions can say why a call failed. */
    private static final ThreadLocal<String> LAST_ERROR = new ThreadLocal<>();
    /** First error line logged on each thread since {@link #clearLastError()}: usually the most specific one. */
    private static final ThreadLocal<String> FIRST_ERROR = new ThreadLocal<>();

    public static void ensureInitialized() {
        if (initialized) {
            return;
        }
        synchronized (NativeRuntime.class) {
            if (initialized) {
                return;
            }
            NativeLoader.Loaded loaded = NativeLoader.load();
            checkVersion(loaded);
            // The upcall stub lives in the global arena: llama.cpp keeps the pointer for the life of the process.
            MemorySegment logStub = ggml_log_callback.allocate(NativeRuntime::log, Arena.global());
            Llama.llama_log_set(logStub, MemorySegment.NULL);
            installFatalErrorHook();
            backend = BackendLoader.choose(loaded);
            Llama.llama_backend_init();
            initialized = true;
        }
    }

    /** The compute backend chosen at initialisation, and why. */
    public static BackendLoader.Choice backend() {
        ensureInitialized();
        return backend;
    }

    /** Native work in progress per thread ("loading model /x.gguf"), named in the report of a fatal llama.cpp error. */
    private static final Map<Thread, String> ACTIVITIES = new ConcurrentHashMap<>();

    /**
     * Records what this thread is about to do in native code, until {@link #endActivity()}: if llama.cpp hits a
     * fatal error (GGML_ASSERT/GGML_ABORT) meanwhile, the report names it.
     */
    public static void beginActivity(String what) {
        ACTIVITIES.put(Thread.currentThread(), what);
    }

    /** Ends what {@link #beginActivity} recorded for this thread. */
    public static void endActivity() {
        ACTIVITIES.remove(Thread.currentThread());
    }

    /**
     * Routes ggml's fatal errors (GGML_ASSERT/GGML_ABORT, after which ggml calls abort()) through the glue's
     * llamaffm_on_fatal_error, which prints the message to stderr and then calls {@link #onFatalError}. ggml's
     * setter is not in the generated bindings (they cover llama.h), so it is bound here by hand.
     */
    private static void installFatalErrorHook() {
        Linker linker = Linker.nativeLinker();
        try {
            MemorySegment listener = linker.upcallStub(
                    MethodHandles.lookup().findStatic(NativeRuntime.class, "onFatalError",
                            MethodType.methodType(void.class, MemorySegment.class)),
                    FunctionDescriptor.ofVoid(ValueLayout.ADDRESS), Arena.global());
            linker.downcallHandle(NativeLoader.glueFunction("llamaffm_set_fatal_listener"),
                    FunctionDescriptor.ofVoid(ValueLayout.ADDRESS)).invokeExact(listener);
            MemorySegment setter = SymbolLookup.loaderLookup().find("ggml_set_abort_callback").orElseThrow(
                    () -> new NativeLibraryException("ggml_set_abort_callback not found in the loaded ggml library"));
            MemorySegment previous = (MemorySegment) linker.downcallHandle(setter,
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS))
                    .invokeExact(NativeLoader.glueFunction("llamaffm_on_fatal_error"));
            // Uncaught C++ exceptions (std::terminate) take the same path, with the exception's message; the hook
            // lives in the chat glue (C++), absent where that is not built (Windows for now).
            Optional<MemorySegment> terminateHook = SymbolLookup.loaderLookup().find("llamaffm_install_terminate_hook");
            if (terminateHook.isPresent()) {
                linker.downcallHandle(terminateHook.get(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS))
                        .invokeExact(NativeLoader.glueFunction("llamaffm_on_fatal_error"));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new NativeLibraryException("cannot install the fatal-error hook: " + t, t);
        }
    }

    /** Upcall from the glue just before ggml aborts the process; must never throw into native code. */
    private static void onFatalError(MemorySegment message) {
        try {
            StringBuilder during = new StringBuilder();
            ACTIVITIES.forEach((thread, what) -> during.append(during.isEmpty() ? " while " : "; ")
                    .append(what).append(" (thread '").append(thread.getName()).append("')"));
            NATIVE_LOG.log(System.Logger.Level.ERROR, "llama.cpp hit a fatal error and aborts the process" + during
                    + ": " + cString(message));
            System.err.flush();
        } catch (Throwable ignored) {
            // the process ends anyway; the glue has already printed the message
        }
    }

    /** The llama.cpp version these bindings were generated from (bindings.properties). */
    public static Properties bindingsInfo() {
        Properties p = new Properties();
        try (InputStream in = Llama.class.getResourceAsStream("bindings.properties")) {
            if (in == null) {
                throw new NativeLibraryException("bindings.properties missing from the bindings jar");
            }
            p.load(in);
        } catch (IOException e) {
            throw new NativeLibraryException("cannot read bindings.properties", e);
        }
        return p;
    }

    private static void checkVersion(NativeLoader.Loaded loaded) {
        String expected = bindingsInfo().getProperty("llama.cpp.version");
        String actual = cString(Llama.llama_version());
        // A development build reports e.g. "0.5.0-dev"; the release part must match exactly.
        String actualBase = actual.split("[-+]", 2)[0];
        if (!actualBase.equals(expected)) {
            throw new NativeLibraryException("llama.cpp library version " + actual + " (loaded from " + loaded.directory()
                    + ") does not match the bindings, generated for " + expected
                    + ". Rebuild the natives (./build-native.sh) or regenerate the bindings (bindings/jextract.sh).");
        }
    }

    /** The abort flag of the context decoding on this thread, while llama_decode runs. */
    private static final ThreadLocal<MemorySegment> DECODING_ABORT_FLAG = new ThreadLocal<>();

    /** Marks the start (flag) or end (null) of a llama_decode on this thread. */
    public static void decodingWith(MemorySegment abortFlag) {
        DECODING_ABORT_FLAG.set(abortFlag);
    }

    /** When set on a thread, every llama.cpp log line that thread produces is also appended here. */
    private static final ThreadLocal<java.util.List<String>> CAPTURE = new ThreadLocal<>();
    /** While set on a thread, captured lines are not logged (a probe whose failure is reported another way). */
    private static final ThreadLocal<Boolean> QUIET = new ThreadLocal<>();

    /** Starts recording this thread's llama.cpp log lines (for reports llama.cpp only logs, like KV buffer sizes). */
    public static void beginCapture() {
        beginCapture(false);
    }

    /** Starts recording; {@code quiet}: the lines go only to the recording, not to the log. */
    public static void beginCapture(boolean quiet) {
        CAPTURE.set(new java.util.ArrayList<>());
        if (quiet) {
            QUIET.set(Boolean.TRUE);
        }
    }

    /** Stops recording and returns the lines. */
    public static java.util.List<String> endCapture() {
        java.util.List<String> lines = CAPTURE.get();
        CAPTURE.remove();
        QUIET.remove();
        return lines == null ? java.util.List.of() : lines;
    }

    /** Records {@code message} as this thread's last llama.cpp error (a failure noticed outside llama.cpp's log). */
    public static void noteError(String message) {
        LAST_ERROR.set(message);
    }

    /** Clears this thread's last llama.cpp error, before a call whose failure should be explained. */
    public static void clearLastError() {
        LAST_ERROR.remove();
        FIRST_ERROR.remove();
    }

    /**
     * ": <first llama.cpp error on this thread>", or "" if none was logged since {@link #clearLastError()}. For a
     * failed model load the first line says what was wrong ("tensor 'x' has offset ..."); the last is the generic
     * "failed to load model".
     */
    public static String firstErrorSuffix() {
        String e = FIRST_ERROR.get();
        return e == null ? "" : ": " + e;
    }

    /** ": <last llama.cpp error on this thread>", or "" if none was logged since {@link #clearLastError()}. */
    public static String lastErrorSuffix() {
        String e = LAST_ERROR.get();
        return e == null ? "" : ": " + e;
    }

    /** A NUL-terminated C string returned by llama.cpp, or {@code null} for NULL. */
    public static String cString(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? null : p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    // ggml_log_level, from the generated constants (NativeLevelsTest checks them against the header)
    private static final int LOG_DEBUG = Llama.GGML_LOG_LEVEL_DEBUG();
    private static final int LOG_INFO = Llama.GGML_LOG_LEVEL_INFO();
    private static final int LOG_WARN = Llama.GGML_LOG_LEVEL_WARN();
    private static final int LOG_ERROR = Llama.GGML_LOG_LEVEL_ERROR();
    private static final int LOG_CONT = Llama.GGML_LOG_LEVEL_CONT();

    /**
     * The {@link System.Logger.Level} of a {@code ggml_log_level}. llama.cpp's INFO is a verbose loader dump, so it
     * maps one level down: a default JUL setup shows only llama.cpp's warnings and errors.
     */
    public static System.Logger.Level javaLevel(int ggmlLevel) {
        if (ggmlLevel == LOG_INFO) {
            return System.Logger.Level.DEBUG;
        } else if (ggmlLevel == LOG_WARN) {
            return System.Logger.Level.WARNING;
        } else if (ggmlLevel == LOG_ERROR) {
            return System.Logger.Level.ERROR;
        }
        return System.Logger.Level.TRACE;
    }

    /** Upcall from llama.cpp; must never throw into native code. */
    private static void log(int level, MemorySegment text, MemorySegment userData) {
        try {
            int effective = level == LOG_CONT ? lastLevel : level;
            lastLevel = effective;
            MemorySegment abortFlag = DECODING_ABORT_FLAG.get();
            if ((effective == LOG_WARN || effective == LOG_ERROR) && abortFlag != null
                    && abortFlag.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) != 0) {
                effective = LOG_DEBUG; // a cancel() the user asked for: llama.cpp's "failed to compute graph" is expected
            }
            System.Logger.Level l = javaLevel(effective);
            java.util.List<String> capture = CAPTURE.get();
            if (text.equals(MemorySegment.NULL) || (effective != LOG_ERROR && capture == null && !NATIVE_LOG.isLoggable(l))) {
                return;
            }
            String s = text.reinterpret(Long.MAX_VALUE).getString(0).stripTrailing();
            if (effective == LOG_ERROR) {
                LAST_ERROR.set(s);
                if (FIRST_ERROR.get() == null) {
                    FIRST_ERROR.set(s);
                }
                if (s.startsWith("RPC server ")) {
                    RpcBackend.lastFailure = s; // logged by ggml-rpc's own thread (patch 0010)
                }
            }
            if (capture != null) {
                capture.add(s);
                if (QUIET.get() != null) {
                    return;
                }
            }
            if (!s.isEmpty() && NATIVE_LOG.isLoggable(l)) {
                NATIVE_LOG.log(l, s);
            }
        } catch (Throwable ignored) {
            // Nothing may propagate into native code: an exception here would abort the JVM.
        }
    }
}
