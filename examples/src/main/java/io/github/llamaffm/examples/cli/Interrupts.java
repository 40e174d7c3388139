package io.github.llamaffm.examples.cli;

import io.github.llamaffm.examples.Cli;

import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * Ctrl-C (SIGINT) handling: while an action is armed (a reply or generation is running) Ctrl-C runs it (cancels the
 * generation) and the program goes on; otherwise Ctrl-C ends the program with exit code 130 as usual. Closing
 * restores the previous handler. Does nothing when not {@linkplain Cli#interactive() interactive} (in-process runs
 * leave the host's signal handling alone).
 *
 * <p>Uses {@code sun.misc.Signal} (module jdk.unsupported, present in every JDK) through reflection, so that building
 * needs no internal API; where it is missing, Ctrl-C keeps the JVM's default behaviour (exit).
 */
final class Interrupts implements AutoCloseable {
    private final Object signal;
    private final Object previous;
    private volatile Runnable action;

    private Interrupts(Object signal, Object previous) {
        this.signal = signal;
        this.previous = previous;
    }

    static Interrupts install(boolean enabled) {
        if (!enabled) {
            return new Interrupts(null, null);
        }
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object sig = signalClass.getConstructor(String.class).newInstance("INT");
            Interrupts[] self = new Interrupts[1];
            Object handler = Proxy.newProxyInstance(Interrupts.class.getClassLoader(), new Class<?>[] {handlerClass},
                    (proxy, method, args) -> {
                        if (method.getName().equals("handle") && self[0] != null) {
                            self[0].fire();
                            return null;
                        }
                        return switch (method.getName()) {
                            case "hashCode" -> System.identityHashCode(proxy);
                            case "equals" -> proxy == args[0];
                            case "toString" -> "llama-ffm Ctrl-C handler";
                            default -> null;
                        };
                    });
            Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
            Object previous = handle.invoke(null, sig, handler);
            self[0] = new Interrupts(sig, previous);
            return self[0];
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            return new Interrupts(null, null); // no signal support (e.g. -Xrs): default behaviour
        }
    }

    /** What Ctrl-C does from now on, once; afterwards (or after {@link #disarm()}) Ctrl-C exits. */
    void arm(Runnable onInterrupt) {
        this.action = onInterrupt;
    }

    void disarm() {
        this.action = null;
        NativeLog.unmute();
    }

    private void fire() {
        Runnable a = action;
        action = null; // a second Ctrl-C exits
        if (a != null) {
            NativeLog.mute(); // the aborted decode logs errors that are expected here
            a.run();
        } else {
            System.err.println();
            System.exit(Cli.EXIT_INTERRUPTED);
        }
    }

    @Override
    public void close() {
        if (signal != null) {
            try {
                Class<?> signalClass = signal.getClass();
                Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
                signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, signal, previous);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // nothing to restore
            }
        }
    }
}
