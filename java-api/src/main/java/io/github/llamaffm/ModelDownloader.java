package io.github.llamaffm;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads a model named by an {@code http(s)://} URL or by {@code hf:owner/repo[@revision]/path/to/file.gguf}
 * (Hugging Face: {@code <endpoint>/owner/repo/resolve/<revision>/path/to/file.gguf}, revision {@code main} by
 * default) into a cache folder, and returns the local file: what the CLI's {@code --model} and the Spring Boot
 * starter's {@code llama-ffm.model} accept besides a path.
 *
 * {@snippet :
 * Path gguf = ModelDownloader.fromEnvironment(null, null, false)
 *         .fetch("hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF/mistral-7b-instruct-v0.2.Q4_K_M.gguf", null);
 * }
 *
 * <ul>
 *   <li>Cache file: {@code <first 12 hex digits of sha256(url)>-<file name>}. A complete file there is used without
 *       any network access, so a model once downloaded works offline.</li>
 *   <li>The bytes go to {@code <name>.part} first. An existing {@code .part} is resumed with
 *       {@code Range: bytes=N-} (206: append; 200: start over; 416: complete if its size is the file's size, else
 *       start over). The size is checked against Content-Length / Content-Range, and the file is moved to its final
 *       name (atomically where the file system can) only after that and the checksum check.</li>
 *   <li>Checksum: {@code --sha256 HEX}, or a {@code #sha256=HEX} fragment on the URL, or, for Hugging Face, the
 *       {@code X-Linked-Etag} / {@code ETag} header when it is a 64-digit sha256 (what Hugging Face sends for LFS
 *       files). The sha256 of every download is computed as it arrives and written to {@code <name>.sha256}
 *       ({@code sha256sum} format, with the size on a comment line); reuse compares the size only (and the recorded
 *       sha256 with an expected one, without reading the file again).</li>
 *   <li>Hugging Face endpoint: system property {@value #HF_ENDPOINT_PROPERTY}, else environment variable
 *       {@code HF_ENDPOINT}, else {@value #DEFAULT_HF_ENDPOINT}. Token: environment variable {@code HF_TOKEN}, sent as
 *       a bearer token to the endpoint's host only (the JDK drops it on redirects to other hosts, such as the
 *       CDN).</li>
 *   <li>Failures are {@link ModelDownloadException}s naming the HTTP status and URL, the unreachable host, the checksums, or
 *       the file that could not be written.</li>
 * </ul>
 */
public final class ModelDownloader {
    public static final String DEFAULT_HF_ENDPOINT = "https://huggingface.co";
    public static final String HF_ENDPOINT_PROPERTY = "llamaffm.hf.endpoint";
    public static final String CACHE_PROPERTY = "llamaffm.model.cache";
    public static final String CACHE_ENV = "LLAMAFFM_MODEL_CACHE";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes\\s+(?:(\\d+)-(\\d+)|\\*)/(\\d+|\\*)");
    private static final Pattern SCHEME = Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]*://.*");
    private static final int BUFFER = 1 << 20;
    private static final int MAX_ATTEMPTS = 3;

    private final Path cacheDir;
    private final String hfEndpoint;
    private final String hfToken;
    private final PrintWriter err;
    private final boolean liveProgress;

    /**
     * @param cacheDir     where downloaded models go
     * @param hfEndpoint   base URL for {@code hf:} models (no trailing slash needed)
     * @param hfToken      Hugging Face token, or null
     * @param err          where progress goes (e.g. stderr), or null for none
     * @param liveProgress a {@code \r}-redrawn progress line (stderr is a terminal), else a line at start and end
     */
    public ModelDownloader(Path cacheDir, String hfEndpoint, String hfToken, PrintWriter err, boolean liveProgress) {
        this.cacheDir = cacheDir.toAbsolutePath().normalize();
        String ep = hfEndpoint == null || hfEndpoint.isBlank() ? DEFAULT_HF_ENDPOINT : hfEndpoint.strip();
        while (ep.endsWith("/")) {
            ep = ep.substring(0, ep.length() - 1);
        }
        this.hfEndpoint = ep;
        this.hfToken = hfToken == null || hfToken.isBlank() ? null : hfToken.strip();
        this.err = err != null ? err : new PrintWriter(java.io.Writer.nullWriter());
        this.liveProgress = liveProgress;
    }

    /**
     * A downloader configured from {@code cacheOption} (may be null: see {@link #defaultCacheDir}), system properties
     * and the environment; progress goes to {@code err} (null: none).
     */
    public static ModelDownloader fromEnvironment(Path cacheOption, PrintWriter err, boolean liveProgress) {
        String endpoint = System.getProperty(HF_ENDPOINT_PROPERTY);
        if (endpoint == null || endpoint.isBlank()) {
            endpoint = System.getenv("HF_ENDPOINT");
        }
        return new ModelDownloader(defaultCacheDir(cacheOption), endpoint, System.getenv("HF_TOKEN"), err,
                liveProgress);
    }

    /**
     * The cache folder: {@code option} if not null, else system property {@value #CACHE_PROPERTY}, else environment
     * variable {@value #CACHE_ENV}, else {@code ~/.cache/llama-ffm/models}.
     */
    public static Path defaultCacheDir(Path option) {
        if (option != null) {
            return option;
        }
        String prop = System.getProperty(CACHE_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        String env = System.getenv(CACHE_ENV);
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "llama-ffm", "models");
    }

    /** Whether {@code model} names something to download rather than a local file. */
    public static boolean isRemote(String model) {
        String lower = model.strip().toLowerCase(Locale.ROOT);
        return lower.startsWith("http://") || lower.startsWith("https://") || lower.startsWith("hf:");
    }

    /** Whether {@code model} looks like a URL of a scheme that is not supported ({@code ftp://}, {@code s3://}...). */
    public static boolean isOtherUrl(String model) {
        return !isRemote(model) && SCHEME.matcher(model.strip()).matches();
    }

    /**
     * What {@code --model} names: the URL to fetch (without fragment), the file name, the sha256 from a
     * {@code #sha256=} fragment (or null), whether it is a Hugging Face file.
     */
    public record Source(String spec, URI uri, String fileName, String fragmentSha256, boolean huggingFace) {
        /** The URL for messages: no user info, and the {@code hf:} form too. */
        String display() {
            String u = uri.getUserInfo() == null ? uri.toString() : uri.toString().replace(uri.getRawUserInfo() + "@", "");
            return spec.regionMatches(true, 0, "hf:", 0, 3) ? u + " (" + spec + ")" : u;
        }

        String hostAndPort() {
            return uri.getHost() + (uri.getPort() >= 0 ? ":" + uri.getPort() : "");
        }
    }

    /** Parses {@code model} (a URL or {@code hf:...}); throws {@link ModelDownloadException} when it is malformed. */
    public Source parse(String model) {
        String spec = model.strip();
        String fragmentSha = null;
        int hash = spec.indexOf('#');
        String noFragment = hash >= 0 ? spec.substring(0, hash) : spec;
        if (hash >= 0) {
            String fragment = spec.substring(hash + 1);
            if (fragment.toLowerCase(Locale.ROOT).startsWith("sha256=")) {
                fragmentSha = fragment.substring("sha256=".length());
                if (!SHA256.matcher(fragmentSha).matches()) {
                    throw new ModelDownloadException("invalid #sha256= in the model reference " + model + ": expected 64 hex digits");
                }
                fragmentSha = fragmentSha.toLowerCase(Locale.ROOT);
            }
        }
        if (noFragment.regionMatches(true, 0, "hf:", 0, 3)) {
            return parseHuggingFace(model, noFragment, fragmentSha);
        }
        URI uri;
        try {
            uri = new URI(noFragment);
        } catch (URISyntaxException e) {
            throw new ModelDownloadException("invalid model URL: " + model + " (" + e.getMessage() + ")");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw new ModelDownloadException("invalid model URL (no host): " + model);
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        String name = path.substring(path.lastIndexOf('/') + 1);
        if (name.isEmpty()) {
            throw new ModelDownloadException("cannot tell the file name from " + model
                    + ": the URL's path must end with the model's file name (e.g. .../model.gguf)");
        }
        boolean hf = isHuggingFaceHost(uri);
        return new Source(noFragment, uri.normalize(), name, fragmentSha, hf);
    }

    private Source parseHuggingFace(String model, String spec, String fragmentSha) {
        String rest = spec.substring(3);
        while (rest.startsWith("/")) {
            rest = rest.substring(1); // hf://owner/repo/...
        }
        String usage = " (expected hf:owner/repo/path/to/file.gguf or hf:owner/repo@revision/file.gguf)";
        String[] parts = rest.split("/", -1);
        if (parts.length < 3) {
            throw new ModelDownloadException("invalid Hugging Face model " + model + usage);
        }
        String owner = parts[0];
        String repo = parts[1];
        String revision = "main";
        int at = repo.indexOf('@');
        if (at >= 0) {
            revision = repo.substring(at + 1);
            repo = repo.substring(0, at);
        }
        List<String> segments = new ArrayList<>(List.of(parts).subList(2, parts.length));
        List<String> all = new ArrayList<>(List.of(owner, repo, revision));
        all.addAll(segments);
        for (String s : all) {
            if (s.isEmpty() || s.equals(".") || s.equals("..")) {
                throw new ModelDownloadException("invalid Hugging Face model " + model + usage);
            }
        }
        StringBuilder url = new StringBuilder(hfEndpoint).append('/').append(encodeSegment(owner)).append('/')
                .append(encodeSegment(repo)).append("/resolve/").append(encodeSegment(revision));
        for (String s : segments) {
            url.append('/').append(encodeSegment(s));
        }
        URI uri;
        try {
            uri = new URI(url.toString());
        } catch (URISyntaxException e) {
            throw new ModelDownloadException("invalid Hugging Face endpoint " + hfEndpoint + " (" + e.getMessage() + ")");
        }
        if (uri.getHost() == null) {
            throw new ModelDownloadException("invalid Hugging Face endpoint (no host): " + hfEndpoint);
        }
        return new Source(spec, uri, segments.getLast(), fragmentSha, true);
    }

    /** Where {@code model} is (or will be) cached: {@code <cache>/<12 hex of sha256(url)>-<file name>}. */
    public Path cachedFile(String model) {
        return cachedFile(parse(model));
    }

    Path cachedFile(Source source) {
        String key = HexFormat.of().formatHex(sha256().digest(source.uri().toString().getBytes(StandardCharsets.UTF_8)))
                .substring(0, 12);
        return cacheDir.resolve(key + "-" + safeFileName(source.fileName()));
    }

    /**
     * Returns the local file for {@code model}: the cached one, or a fresh download (verified against
     * {@code sha256}, the URL's {@code #sha256=}, or Hugging Face's etag).
     *
     * @param sha256 expected sha256 (hex), or null
     */
    public Path fetch(String model, String sha256) {
        Source source = parse(model);
        String expected = null;
        String expectedFrom = null;
        if (sha256 != null) {
            if (!SHA256.matcher(sha256.strip()).matches()) {
                throw new ModelDownloadException("invalid expected sha256 " + sha256 + ": expected 64 hex digits");
            }
            expected = sha256.strip().toLowerCase(Locale.ROOT);
            expectedFrom = "the expected sha256";
        }
        if (source.fragmentSha256() != null) {
            if (expected != null && !expected.equals(source.fragmentSha256())) {
                throw new ModelDownloadException("the expected sha256 " + expected + " differs from the URL's #sha256="
                        + source.fragmentSha256());
            }
            expected = source.fragmentSha256();
            expectedFrom = expectedFrom == null ? "#sha256= in the URL" : expectedFrom;
        }
        Path target = cachedFile(source);
        Path reused = reuse(target, expected, expectedFrom);
        if (reused != null) {
            return reused;
        }
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new ModelDownloadException("cannot create the model cache directory " + cacheDir + " (" + describe(e)
                    + "); choose another (CLI: --model-cache DIR; Spring Boot: llama-ffm.model-cache) or set " + CACHE_ENV, e);
        }
        Path part = sibling(target, ".part");
        FileChannel channel;
        try {
            channel = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new ModelDownloadException("cannot write " + part + ": " + describe(e), e);
        }
        boolean locked = false;
        boolean finished = false;
        boolean deletePart = false;
        try (channel) {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw new ModelDownloadException("another download of " + source.fileName() + " into " + cacheDir
                        + " is in progress (" + part + " is locked); wait for it to finish and run this again");
            }
            locked = true;
            reused = reuse(target, expected, expectedFrom); // a concurrent process may have just finished
            if (reused != null) {
                return reused;
            }
            Result result;
            try (HttpClient client = HttpClient.newBuilder()
                    .followRedirects(HttpClient.Redirect.NORMAL)
                    .connectTimeout(Duration.ofSeconds(30))
                    .version(HttpClient.Version.HTTP_1_1)
                    .build()) {
                try {
                    result = download(client, source, part, channel);
                } finally {
                    client.shutdownNow();
                }
            }
            String checked = expected;
            String checkedFrom = expectedFrom;
            if (checked == null && result.etagSha256() != null) {
                checked = result.etagSha256();
                checkedFrom = "the server's ETag";
            }
            if (checked != null && !checked.equals(result.sha256())) {
                deletePart = true;
                throw new ModelDownloadException("checksum mismatch for " + source.fileName() + " from " + source.display()
                        + ": expected sha256 " + checked + " (" + checkedFrom + "), got " + result.sha256()
                        + "; the download was deleted");
            }
            try {
                channel.force(true);
                writeSidecar(target, result.sha256(), result.size());
                finished = true;
            } catch (IOException e) {
                throw new ModelDownloadException("cannot write " + part + ": " + describe(e), e);
            }
        } catch (IOException e) {
            throw new ModelDownloadException("cannot write " + part + ": " + describe(e), e);
        } finally {
            if (locked && !finished && (deletePart || isEmptyFile(part))) { // nothing worth resuming
                deleteQuietly(part);
            }
        }
        try {
            moveAtomically(part, target);
        } catch (IOException e) {
            throw new ModelDownloadException("cannot move " + part + " to " + target + ": " + describe(e), e);
        }
        return target;
    }

    /** Transferred bytes: total size, their sha256, and a sha256 the server vouched for (or null). */
    private record Result(long size, String sha256, String etagSha256) {
    }

    private Result download(HttpClient client, Source source, Path part, FileChannel channel) throws IOException {
        for (int attempt = 1; ; attempt++) {
            long have = channel.size();
            MessageDigest md = sha256();
            if (have > 0) {
                hashPrefix(channel, have, md);
            }
            HttpResponse<InputStream> response = send(client, source, have);
            int status = response.statusCode();
            String etagSha = source.huggingFace() ? etagSha256(response) : null;
            InputStream body = response.body();
            try (body) {
                long total;
                switch (status) {
                    case 200 -> {
                        if (have > 0) { // the server ignored the range: start over
                            channel.truncate(0);
                            md.reset();
                            have = 0;
                        }
                        total = response.headers().firstValueAsLong("Content-Length").orElse(-1);
                    }
                    case 206 -> {
                        long[] range = contentRange(response.headers());
                        if (range == null || range[0] != have) {
                            if (attempt >= MAX_ATTEMPTS) {
                                throw new ModelDownloadException("the server answered the resume request for "
                                        + source.display() + " with an unexpected range "
                                        + response.headers().firstValue("Content-Range").orElse("(none)"));
                            }
                            channel.truncate(0);
                            continue;
                        }
                        total = range[2];
                    }
                    case 416 -> {
                        long[] range = contentRange(response.headers());
                        if (have > 0 && range != null && range[2] == have) { // the .part is already complete
                            return new Result(have, HexFormat.of().formatHex(md.digest()), etagSha);
                        }
                        if (attempt >= MAX_ATTEMPTS) {
                            throw httpError(status, source);
                        }
                        channel.truncate(0);
                        continue;
                    }
                    default -> throw httpError(status, source);
                }
                String type = response.headers().firstValue("Content-Type").orElse("");
                if (type.toLowerCase(Locale.ROOT).startsWith("text/html")) {
                    throw new ModelDownloadException(source.display() + " returned an HTML page, not a model file; use the "
                            + "file's download link" + (source.huggingFace()
                            ? " (.../resolve/<revision>/file.gguf) or hf:owner/repo/file.gguf" : ""));
                }
                long size = copy(body, channel, have, total, md, source, part);
                return new Result(size, HexFormat.of().formatHex(md.digest()), etagSha);
            }
        }
    }

    private HttpResponse<InputStream> send(HttpClient client, Source source, long offset) {
        HttpRequest.Builder b = HttpRequest.newBuilder(source.uri())
                .GET()
                .timeout(Duration.ofSeconds(60))
                .header("User-Agent", "llama-ffm");
        if (offset > 0) {
            b.header("Range", "bytes=" + offset + "-");
        }
        if (hfToken != null && isEndpointHost(source.uri())) {
            b.header("Authorization", "Bearer " + hfToken);
        }
        try {
            return client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (HttpTimeoutException e) {
            throw new ModelDownloadException("no answer from " + source.hostAndPort() + " for " + source.display() + " ("
                    + describe(e) + ") — offline? use a local path to the model", e);
        } catch (SSLException e) {
            throw new ModelDownloadException("secure connection to " + source.hostAndPort() + " failed: " + describe(e), e);
        } catch (IOException e) {
            throw new ModelDownloadException("cannot reach " + source.hostAndPort() + ": " + describe(e)
                    + " — offline? use a local path to the model (a model downloaded before is used from the cache "
                    + cacheDir + " without network)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ModelDownloadException("download of " + source.display() + " interrupted", e);
        }
    }

    /** Appends the body to the .part; returns the final size. Keeps the .part on a broken connection (to resume). */
    private long copy(InputStream body, FileChannel channel, long have, long total, MessageDigest md, Source source,
                      Path part) {
        DownloadProgress progress = new DownloadProgress(err, liveProgress, source.fileName());
        progress.start(source.display(), have, total);
        byte[] buf = new byte[BUFFER];
        long done = have;
        boolean ok = false;
        try {
            channel.position(have);
            while (true) {
                int n;
                try {
                    n = body.read(buf);
                } catch (IOException e) {
                    throw new ModelDownloadException("download of " + source.display() + " broke off after "
                            + mib(done) + (total > 0 ? " of " + mib(total) : "") + " (" + describe(e)
                            + "); run the same command again to resume", e);
                }
                if (n < 0) {
                    break;
                }
                md.update(buf, 0, n);
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) {
                    channel.write(bb);
                }
                done += n;
                if (total >= 0 && done > total) {
                    channel.truncate(0);
                    throw new ModelDownloadException("download of " + source.display() + " is larger than the " + total
                            + " bytes the server announced; the download was deleted");
                }
                progress.update(done, total);
            }
            if (total >= 0 && done < total) {
                throw new ModelDownloadException("download of " + source.display() + " ended after " + done + " of " + total
                        + " bytes; run the same command again to resume");
            }
            ok = true;
            progress.finish(done, total);
            return done;
        } catch (IOException e) {
            throw new ModelDownloadException("cannot write " + part + ": " + describe(e), e);
        } finally {
            if (!ok) {
                progress.abort();
            }
        }
    }

    /** An existing complete cache file that fits {@code expected}, or null to download (again). */
    private Path reuse(Path target, String expected, String expectedFrom) {
        if (!Files.isRegularFile(target)) {
            return null;
        }
        Path sidecar = sibling(target, ".sha256");
        String recordedSha = null;
        long recordedSize = -1;
        try {
            long size = Files.size(target);
            if (Files.isRegularFile(sidecar)) {
                for (String line : Files.readAllLines(sidecar, StandardCharsets.UTF_8)) {
                    String l = line.strip();
                    if (l.startsWith("# size ")) {
                        recordedSize = Long.parseLong(l.substring("# size ".length()).strip());
                    } else if (l.length() >= 64 && SHA256.matcher(l.substring(0, 64)).matches()) {
                        recordedSha = l.substring(0, 64).toLowerCase(Locale.ROOT);
                    }
                }
            }
            if (recordedSize >= 0 && recordedSize != size) {
                err.println("The cached " + target + " has " + size + " bytes, not the " + recordedSize
                        + " downloaded; downloading it again.");
                err.flush();
                Files.delete(target);
                Files.deleteIfExists(sidecar);
                return null;
            }
            if (expected != null) {
                String actual = recordedSha;
                if (actual == null) { // placed there by hand, or by an older version: hash it once
                    MessageDigest md = sha256();
                    try (FileChannel ch = FileChannel.open(target, StandardOpenOption.READ)) {
                        hashPrefix(ch, size, md);
                    }
                    actual = HexFormat.of().formatHex(md.digest());
                    writeSidecar(target, actual, size);
                }
                if (!actual.equals(expected)) {
                    throw new ModelDownloadException("checksum mismatch for the cached " + target + ": expected sha256 "
                            + expected + " (" + expectedFrom + "), but it has " + actual
                            + "; delete it to download the file again");
                }
            }
            return target;
        } catch (NumberFormatException e) {
            return target; // an unreadable size line: the file itself was verified when it was written
        } catch (IOException | UncheckedIOException e) {
            throw new ModelDownloadException("cannot read the cached " + target + ": " + describe(e), e);
        }
    }

    private void writeSidecar(Path target, String sha, long size) throws IOException {
        Path sidecar = sibling(target, ".sha256");
        Path tmp = sibling(target, ".sha256.tmp");
        Files.writeString(tmp, "# size " + size + "\n" + sha + "  " + target.getFileName() + "\n",
                StandardCharsets.UTF_8);
        moveAtomically(tmp, sidecar);
    }

    private static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void hashPrefix(FileChannel channel, long length, MessageDigest md) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        long pos = 0;
        while (pos < length) {
            buf.clear();
            buf.limit((int) Math.min(BUFFER, length - pos));
            int n = channel.read(buf, pos);
            if (n < 0) {
                throw new IOException("file shrank while reading it");
            }
            buf.flip();
            md.update(buf);
            pos += n;
        }
    }

    /** {@code [first, last, total]} from {@code Content-Range: bytes a-b/t} (missing parts -1), or null. */
    private static long[] contentRange(HttpHeaders headers) {
        Optional<String> value = headers.firstValue("Content-Range");
        if (value.isEmpty()) {
            return null;
        }
        Matcher m = CONTENT_RANGE.matcher(value.get().strip());
        if (!m.matches()) {
            return null;
        }
        try {
            return new long[] {
                    m.group(1) == null ? -1 : Long.parseLong(m.group(1)),
                    m.group(2) == null ? -1 : Long.parseLong(m.group(2)),
                    m.group(3).equals("*") ? -1 : Long.parseLong(m.group(3))};
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /**
     * The sha256 Hugging Face vouches for: {@code X-Linked-Etag} on any response of the redirect chain (the resolve
     * endpoint's redirect to the CDN carries it), else the {@code ETag} of the first response (the endpoint's own,
     * not the CDN's), when it is 64 hex digits; else null (e.g. a git blob's sha1 for small non-LFS files).
     */
    static String etagSha256(HttpResponse<?> response) {
        List<HttpResponse<?>> chain = new ArrayList<>();
        for (HttpResponse<?> r = response; r != null; r = r.previousResponse().orElse(null)) {
            chain.addFirst(r);
        }
        for (HttpResponse<?> r : chain) {
            String sha = sha256Etag(r.headers().firstValue("X-Linked-Etag").orElse(null));
            if (sha != null) {
                return sha;
            }
        }
        return sha256Etag(chain.getFirst().headers().firstValue("ETag").orElse(null));
    }

    private static String sha256Etag(String etag) {
        if (etag == null) {
            return null;
        }
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
            e = e.substring(1, e.length() - 1);
        }
        return SHA256.matcher(e).matches() ? e.toLowerCase(Locale.ROOT) : null;
    }

    private ModelDownloadException httpError(int status, Source source) {
        StringBuilder msg = new StringBuilder("HTTP ").append(status);
        String reason = reason(status);
        if (reason != null) {
            msg.append(' ').append(reason);
        }
        msg.append(": ").append(source.display());
        if (source.huggingFace() && (status == 401 || status == 403)) {
            msg.append(hfToken == null
                    ? " — a gated or private repository? Set HF_TOKEN to a Hugging Face access token that may read it"
                    : " — HF_TOKEN was sent: check that it is valid and that its account may read the repository "
                    + "(gated models need their terms accepted on the model page)");
        } else if (source.huggingFace() && status == 404) {
            msg.append(" — check the owner/repo, the revision and the file's path in the repository");
        }
        return new ModelDownloadException(msg.toString());
    }

    private static String reason(int status) {
        return switch (status) {
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 403 -> "Forbidden";
            case 404 -> "Not Found";
            case 410 -> "Gone";
            case 416 -> "Range Not Satisfiable";
            case 429 -> "Too Many Requests";
            case 500 -> "Internal Server Error";
            case 502 -> "Bad Gateway";
            case 503 -> "Service Unavailable";
            case 504 -> "Gateway Timeout";
            default -> null;
        };
    }

    private boolean isEndpointHost(URI uri) {
        URI ep = URI.create(hfEndpoint);
        return uri.getHost() != null && uri.getHost().equalsIgnoreCase(ep.getHost())
                && uri.getScheme().equalsIgnoreCase(ep.getScheme())
                && effectivePort(uri) == effectivePort(ep);
    }

    private boolean isHuggingFaceHost(URI uri) {
        String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
        return isEndpointHost(uri) || host.equals("huggingface.co") || host.equals("hf.co");
    }

    private static int effectivePort(URI uri) {
        if (uri.getPort() >= 0) {
            return uri.getPort();
        }
        return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
    }

    /** Percent-encodes one URL path segment (UTF-8), keeping RFC 3986's unreserved characters. */
    static String encodeSegment(String s) {
        StringBuilder sb = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '.' || c == '_' || c == '~') {
                sb.append((char) c);
            } else {
                sb.append('%').append(HexFormat.of().withUpperCase().toHexDigits((byte) c));
            }
        }
        return sb.toString();
    }

    /** The URL's file name, safe on every file system. */
    static String safeFileName(String name) {
        String s = name.replaceAll("[^A-Za-z0-9._+-]", "_");
        if (s.startsWith(".")) {
            s = "_" + s.substring(1);
        }
        return s.length() > 180 ? s.substring(s.length() - 180) : s;
    }

    private static Path sibling(Path file, String suffix) {
        return file.resolveSibling(file.getFileName() + suffix);
    }

    private static boolean isEmptyFile(Path p) {
        try {
            return Files.isRegularFile(p) && Files.size(p) == 0;
        } catch (IOException e) {
            return false;
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort
        }
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
    }

    /** An exception for a message: its class when that says more (Connection refused vs UnknownHost), its causes. */
    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null && sb.length() < 300; t = t.getCause()) {
            String m = t.getMessage();
            String part;
            if (t instanceof java.nio.channels.UnresolvedAddressException) {
                part = "unknown host (no DNS answer)";
            } else if (t instanceof java.nio.channels.ClosedChannelException && t != e) {
                part = "connection refused";
            } else if (t instanceof UnknownHostException) {
                part = "unknown host " + (m == null ? "" : m);
            } else if (t instanceof NoSuchFileException) {
                part = "no such file " + (m == null ? "" : m);
            } else if (m == null || m.isBlank()) {
                part = t instanceof ConnectException ? "" : t.getClass().getSimpleName();
            } else if (t instanceof java.nio.file.FileSystemException && t.getClass() != java.nio.file.FileSystemException.class) {
                part = t.getClass().getSimpleName() + ": " + m;
            } else {
                part = m;
            }
            if (!part.isEmpty() && sb.indexOf(part) < 0) {
                if (!sb.isEmpty()) {
                    sb.append(": ");
                }
                sb.append(part.strip());
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return sb.isEmpty() ? e.getClass().getSimpleName() : sb.toString();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("SHA-256 is required on every JDK", e);
        }
    }
}
