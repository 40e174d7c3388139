package io.github.llamaffm.internal;

import io.github.llamaffm.NativeLibraryException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * Finds and loads llama.cpp's shared libraries, once per JVM.
 *
 * <p>The <em>base</em> natives (ggml, llama, the CPU backend, our glue) are searched in this order:
 * <ol>
 *   <li>the directory in system property {@code llamaffm.library.path}, else environment variable
 *       {@code LLAMAFFM_LIBRARY_PATH};</li>
 *   <li>a natives jar on the class path ({@code io/github/llamaffm/natives/<os>-<arch>/natives.list}), extracted once
 *       into a versioned cache directory ({@code ~/.cache/llama-ffm/natives/...}); extraction goes to a temporary
 *       directory that is atomically renamed, so concurrent JVMs are safe;</li>
 *   <li>this checkout's {@code native/build/<os>-<arch>} or {@code ...-portable} (development), found from system
 *       property {@code llamaffm.project.root} or by walking up from the working directory.</li>
 * </ol>
 * GPU backend modules (llama.cpp's {@code GGML_BACKEND_DL} modules, e.g. {@code libggml-cuda.so}) are found beside
 * the base libraries, in a natives jar {@code io/github/llamaffm/natives/<os>-<arch>-<backend>/}, or (for a
 * development base) in {@code native/build/<os>-<arch>-<backend>}. They are only located here; {@link BackendLoader}
 * decides which one to use. Libraries are loaded with {@link System#load} so the generated bindings (which use the
 * class loader's symbol lookup) see them.
 */
public final class NativeLoader {
    private NativeLoader() {}

    /**
     * Library base names in dependency order: llama.cpp, its {@code common} library (chat templates, tool calls,
     * JSON Schema) and our chat glue over it (native/glue/llamaffm_chat.cpp), whose functions the generated bindings
     * find through the class loader's symbol lookup.
     */
    private static final List<String> LIBRARIES = List.of("ggml-base", "ggml-cpu", "ggml", "llama", "llama-common",
            "llamaffm_chat");
    private static final String GLUE = "llamaffm_glue";
    private static final List<String> CHAT_LIBRARIES = List.of("llama-common", "llamaffm_chat");
    /** Why the chat glue is not loaded, or null when it is. */
    private static volatile String chatMissing;

    /**
     * Throws unless the chat glue (Jinja templates, tool calls, JSON Schema) is loaded; it is everywhere but on
     * Windows for now.
     */
    public static void requireChatGlue() {
        load();
        String why = chatMissing;
        if (why != null) {
            throw new NativeLibraryException(why);
        }
    }
    /** GPU backends shipped as loadable modules, best first (Metal is built into the macOS natives). */
    static final List<String> GPU_MODULES = List.of("cuda", "vulkan");

    private static volatile Loaded loaded;

    /**
     * A GPU backend module that was found (not yet loaded).
     *
     * @param backend   {@code cuda} or {@code vulkan}
     * @param library   the module file
     * @param source    where it came from, for messages
     * @param buildInfo its build-info.properties (empty if none)
     */
    public record BackendModule(String backend, Path library, String source, Properties buildInfo) {}

    /**
     * What was loaded and from where.
     *
     * @param directory       the base libraries' directory
     * @param source          where they came from, for messages
     * @param dynamicBackends a {@code GGML_BACKEND_DL} build: the CPU backend is one of several loadable variants
     * @param glue            our glue library
     * @param buildInfo       the base's build-info.properties (empty if none)
     * @param gpuModules      GPU backend modules found, best first
     */
    public record Loaded(Path directory, String source, boolean dynamicBackends, SymbolLookup glue,
                         Properties buildInfo, List<BackendModule> gpuModules) {}

    public static Loaded load() {
        Loaded l = loaded;
        if (l != null) {
            return l;
        }
        synchronized (NativeLoader.class) {
            if (loaded == null) {
                loaded = doLoad();
            }
            return loaded;
        }
    }

    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String o = os.contains("mac") || os.contains("darwin") ? "macos" : os.contains("win") ? "windows" : "linux";
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return o + "-" + a;
    }

    static String libraryFileName(String base) {
        String p = platform();
        if (p.startsWith("windows")) {
            return base + ".dll";
        }
        return "lib" + base + (p.startsWith("macos") ? ".dylib" : ".so");
    }

    private static Loaded doLoad() {
        List<String> searched = new ArrayList<>();
        Path dir = null;
        String source = null;

        String prop = System.getProperty("llamaffm.library.path");
        String env = System.getenv("LLAMAFFM_LIBRARY_PATH");
        if (prop != null && !prop.isBlank()) {
            dir = requireLibraries(Path.of(prop), "system property llamaffm.library.path");
            source = "llamaffm.library.path";
        } else if (env != null && !env.isBlank()) {
            dir = requireLibraries(Path.of(env), "environment variable LLAMAFFM_LIBRARY_PATH");
            source = "LLAMAFFM_LIBRARY_PATH";
        } else {
            searched.add("system property llamaffm.library.path (not set)");
            searched.add("environment variable LLAMAFFM_LIBRARY_PATH (not set)");
            String resourceDir = "io/github/llamaffm/natives/" + platform() + "/";
            URL list = NativeLoader.class.getClassLoader().getResource(resourceDir + "natives.list");
            if (list != null) {
                dir = extractNativesJar(resourceDir, platform(), libraryFileName("llama"));
                source = "natives jar " + list;
            } else {
                searched.add("class path resource " + resourceDir + "natives.list (no natives jar)");
                for (Path candidate : developmentCandidates()) {
                    if (Files.isRegularFile(candidate.resolve(libraryFileName("llama")))) {
                        dir = candidate;
                        source = "development build " + candidate;
                        break;
                    }
                    searched.add(candidate.toString());
                }
            }
        }
        if (dir == null) {
            throw new NativeLibraryException("llama.cpp native libraries for " + platform() + " not found. Searched:\n  "
                    + String.join("\n  ", searched)
                    + "\nAdd the dependency io.github.llamaffm:llama-ffm-natives with classifier " + platform()
                    + " (see the README's \"Use it\"), build them with ./build-native.sh, or set"
                    + " -Dllamaffm.library.path=<dir>.");
        }
        boolean dynamicBackends = hasDynamicBackends(dir);
        Properties buildInfo = readBuildInfo(dir);
        List<BackendModule> modules = findGpuModules(dir, source.startsWith("development build"));
        for (String base : LIBRARIES) {
            Path lib = dir.resolve(libraryFileName(base));
            if (Files.isRegularFile(lib)) {
                loadOne(lib);
            } else if (CHAT_LIBRARIES.contains(base) && platform().startsWith("windows")) {
                chatMissing = "the chat glue (" + libraryFileName(base) + ") is not built for Windows yet";
            } else if (!(base.equals("ggml-cpu") && dynamicBackends)) {
                throw new NativeLibraryException("missing " + lib + " (loading llama.cpp from " + source + ")");
            }
        }
        Path glue = dir.resolve(libraryFileName(GLUE));
        if (!Files.isRegularFile(glue)) {
            throw new NativeLibraryException("missing " + glue + ": rebuild the natives with ./build-native.sh");
        }
        SymbolLookup glueLookup = SymbolLookup.libraryLookup(glue, Arena.global());
        return new Loaded(dir, source, dynamicBackends, glueLookup, buildInfo, modules);
    }

    private static Path requireLibraries(Path dir, String where) {
        Path abs = dir.toAbsolutePath().normalize();
        if (!Files.isRegularFile(abs.resolve(libraryFileName("llama")))) {
            throw new NativeLibraryException(where + " points to " + abs + ", which has no " + libraryFileName("llama"));
        }
        return abs;
    }

    private static void loadOne(Path lib) {
        try {
            System.load(lib.toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError e) {
            throw new NativeLibraryException("cannot load " + lib + ": " + e.getMessage(), e);
        }
    }

    private static boolean hasDynamicBackends(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "*ggml-cpu-*")) {
            return s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    /** GPU modules beside the base, in natives jars, or (development) in native/build/&lt;platform&gt;-&lt;backend&gt;. */
    private static List<BackendModule> findGpuModules(Path baseDir, boolean development) {
        List<BackendModule> out = new ArrayList<>();
        for (String backend : GPU_MODULES) {
            String file = libraryFileName("ggml-" + backend);
            String classifier = platform() + "-" + backend;
            String resourceDir = "io/github/llamaffm/natives/" + classifier + "/";
            if (Files.isRegularFile(baseDir.resolve(file))) {
                out.add(new BackendModule(backend, baseDir.resolve(file), "beside the base libraries in " + baseDir,
                        readBuildInfo(baseDir)));
            } else if (NativeLoader.class.getClassLoader().getResource(resourceDir + "natives.list") != null) {
                Path dir = extractNativesJar(resourceDir, classifier, file);
                out.add(new BackendModule(backend, dir.resolve(file), "natives jar " + classifier, readBuildInfo(dir)));
            } else if (development) {
                for (Path root : projectRoots()) {
                    Path dir = root.resolve("native/build").resolve(classifier);
                    if (Files.isRegularFile(dir.resolve(file))) {
                        out.add(new BackendModule(backend, dir.resolve(file), "development build " + dir,
                                readBuildInfo(dir)));
                        break;
                    }
                }
            }
        }
        return List.copyOf(out);
    }

    private static Properties readBuildInfo(Path dir) {
        Properties p = new Properties();
        Path f = dir.resolve("build-info.properties");
        if (Files.isRegularFile(f)) {
            try (InputStream in = Files.newInputStream(f)) {
                p.load(in);
            } catch (IOException e) {
                // an unreadable build-info only costs the compatibility check
            }
        }
        return p;
    }

    private static List<Path> projectRoots() {
        List<Path> roots = new ArrayList<>();
        String root = System.getProperty("llamaffm.project.root");
        if (root != null && !root.isBlank()) {
            roots.add(Path.of(root).toAbsolutePath().normalize());
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("native/build")) && !roots.contains(p)) {
                roots.add(p);
            }
        }
        return roots;
    }

    /** native/build/&lt;platform&gt;[-portable] under the project root or any parent of the working directory. */
    private static List<Path> developmentCandidates() {
        List<Path> roots = projectRoots();
        List<Path> out = new ArrayList<>();
        for (Path r : roots) {
            Path build = r.resolve("native/build");
            out.add(build.resolve(platform()));
            out.add(build.resolve(platform() + "-portable"));
            out.add(build.resolve(platform() + "-metal"));
        }
        if (out.isEmpty()) {
            out.add(Path.of("").toAbsolutePath().resolve("native/build").resolve(platform()));
        }
        return out;
    }

    /** Where natives jars are extracted: llamaffm.cache.dir, else ~/.cache/llama-ffm/natives. */
    private static Path extractionRoot() {
        String dir = System.getProperty("llamaffm.cache.dir");
        Path root = dir != null && !dir.isBlank() ? Path.of(dir) : Path.of(System.getProperty("user.home"), ".cache", "llama-ffm");
        return root.resolve("natives");
    }

    /** Extracts one natives jar's resources (resourceDir) into a versioned directory; marker: a file that must exist. */
    private static Path extractNativesJar(String resourceDir, String classifier, String marker) {
        ClassLoader cl = NativeLoader.class.getClassLoader();
        try {
            List<String> names;
            try (InputStream in = cl.getResourceAsStream(resourceDir + "natives.list")) {
                names = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines()
                        .map(String::strip).filter(s -> !s.isEmpty() && !s.startsWith("#")).toList();
            }
            Properties info = new Properties();
            try (InputStream in = cl.getResourceAsStream(resourceDir + "build-info.properties")) {
                if (in != null) {
                    info.load(in);
                }
            }
            // The content hash tells apart two builds of the same llama.cpp and patches (e.g. a changed glue library).
            String version = info.getProperty("llama.cpp.commit", "unknown") + "-" + info.getProperty("patches.hash", "0")
                    + "-" + info.getProperty("backend", "cpu") + "-" + info.getProperty("content.hash", "0");
            Path base = extractionRoot().resolve(classifier).resolve(version);
            if (Files.isRegularFile(base.resolve(marker))) {
                return base;
            }
            Files.createDirectories(base.getParent());
            Path tmp = Files.createTempDirectory(base.getParent(), "extract-");
            try (InputStream in = cl.getResourceAsStream(resourceDir + "build-info.properties")) {
                if (in != null) {
                    Files.copy(in, tmp.resolve("build-info.properties"));
                }
            }
            for (String entry : names) {
                String[] link = entry.split(" -> ", 2);
                for (String part : link) {
                    if (part.contains("/") || part.contains("\\") || part.startsWith(".")) {
                        throw new NativeLibraryException("bad entry '" + entry + "' in " + resourceDir + "natives.list");
                    }
                }
                if (link.length == 2) {
                    // Shared-library name links (libllama.so -> libllama.so.0); where links are not allowed, a copy.
                    try {
                        Files.createSymbolicLink(tmp.resolve(link[0]), Path.of(link[1]));
                    } catch (UnsupportedOperationException | IOException e) {
                        try (InputStream in = cl.getResourceAsStream(resourceDir + link[1])) {
                            if (in != null) {
                                Files.copy(in, tmp.resolve(link[0]));
                            }
                        }
                    }
                    continue;
                }
                String name = entry;
                try (InputStream in = cl.getResourceAsStream(resourceDir + name)) {
                    if (in == null) {
                        throw new NativeLibraryException("natives jar lists " + name + " but has no " + resourceDir + name);
                    }
                    Files.copy(in, tmp.resolve(name));
                }
                if (name.startsWith("ggml-rpc-server")) {
                    tmp.resolve(name).toFile().setExecutable(true); // upstream's RPC server tool (llama-ffm rpc-server)
                }
            }
            try {
                Files.move(tmp, base, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException e) {
                deleteTree(tmp); // another JVM won the race; its copy is complete because it was renamed in one step
            } catch (IOException e) {
                if (!Files.isRegularFile(base.resolve(marker))) {
                    throw e;
                }
                deleteTree(tmp);
            }
            return base;
        } catch (IOException e) {
            throw new UncheckedIOException("extracting natives from the class path failed", e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Address of a glue function (native/glue), for use as a native callback. */
    public static MemorySegment glueFunction(String name) {
        return load().glue().find(name)
                .orElseThrow(() -> new NativeLibraryException("glue library lacks " + name + ": rebuild the natives"));
    }
}
