package io.github.llamaffm.examples;

import org.junit.jupiter.api.Tag;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.github.llamaffm.ModelDownloadException;
import io.github.llamaffm.ModelDownloader;
import io.github.llamaffm.examples.cli.DemoModel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code --model URL|hf:...}: downloads from a loopback HTTP server, resume, checksums, cache, errors. */
@Tag("no-model")
class ModelDownloadTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SIZE = 3 * 1024 * 1024 + 12345; // more than the downloader's 1 MiB buffer

    @TempDir
    Path cache;

    private TestServer server;
    private byte[] data;
    private String sha;
    private StringWriter errText;
    private PrintWriter err;

    @BeforeEach
    void start() throws IOException {
        server = new TestServer();
        data = randomBytes(SIZE, 1);
        sha = sha256(data);
        server.files.put("/files/model.gguf", data);
        errText = new StringWriter();
        err = new PrintWriter(errText, true);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    /** Plain URLs: the Hugging Face endpoint is the default one, not the loopback server. */
    private ModelDownloader downloader() {
        return new ModelDownloader(cache, null, null, err, false);
    }

    /** hf: names resolve against the loopback server. */
    private ModelDownloader hf() {
        return hf(null);
    }

    private ModelDownloader hf(String token) {
        return new ModelDownloader(cache, server.base(), token, err, false);
    }

    @Test
    void downloadsWithTheRightSha256AndWritesTheSidecar() throws Exception {
        String url = server.base() + "/files/model.gguf";

        Path path = downloader().fetch(url, sha.toUpperCase());

        assertThat(path.getParent()).isEqualTo(cache.toAbsolutePath().normalize());
        assertThat(path.getFileName().toString()).matches("[0-9a-f]{12}-model\\.gguf");
        assertThat(path.getFileName().toString()).startsWith(sha256(url.getBytes(StandardCharsets.UTF_8)).substring(0, 12));
        assertThat(Files.readAllBytes(path)).isEqualTo(data);
        assertThat(Files.readString(sibling(path, ".sha256"))).contains(sha + "  " + path.getFileName());
        assertThat(sibling(path, ".part")).doesNotExist();
        assertThat(server.requests).singleElement().satisfies(r -> assertThat(r.range()).isNull());
        assertThat(errText.toString()).contains("Downloading " + url).contains("Downloaded model.gguf")
                .doesNotContain("\r");
    }

    @Test
    void resumesAPartialDownloadWithARangeRequest() throws Exception {
        String url = server.base() + "/files/model.gguf";
        Path target = downloader().cachedFile(url);
        int have = 1_000_003;
        Files.createDirectories(cache);
        Files.write(sibling(target, ".part"), Arrays.copyOf(data, have));

        Path path = downloader().fetch(url, sha);

        assertThat(path).isEqualTo(target);
        assertThat(Files.readAllBytes(path)).isEqualTo(data);
        assertThat(server.requests).singleElement().satisfies(r -> assertThat(r.range()).isEqualTo("bytes=" + have + "-"));
        assertThat(server.bytesSent.get()).isEqualTo(SIZE - have);
        assertThat(sibling(path, ".part")).doesNotExist();
    }

    @Test
    void resumesAfterTheConnectionBreaksOff() throws Exception {
        String url = server.base() + "/files/model.gguf";
        server.breakOffOnce.add("/files/model.gguf");

        assertThatThrownBy(() -> downloader().fetch(url, null))
                .isInstanceOf(ModelDownloadException.class).hasMessageContaining("run the same command again to resume");
        Path part = sibling(downloader().cachedFile(url), ".part");
        long partial = Files.size(part);
        assertThat(partial).isPositive().isLessThan(SIZE);

        Path path = downloader().fetch(url, null);

        assertThat(Files.readAllBytes(path)).isEqualTo(data);
        assertThat(server.requests).hasSize(2);
        assertThat(server.requests.get(1).range()).isEqualTo("bytes=" + partial + "-");
        assertThat(Files.readString(sibling(path, ".sha256"))).contains(sha); // hashed the .part and the rest
    }

    @Test
    void startsOverWhenTheServerIgnoresTheRange() throws Exception {
        String url = server.base() + "/files/model.gguf";
        server.ignoreRange.add("/files/model.gguf");
        Path target = downloader().cachedFile(url);
        Files.createDirectories(cache);
        byte[] stale = randomBytes(500_000, 99); // not even a prefix of the file: must be dropped
        Files.write(sibling(target, ".part"), stale);

        Path path = downloader().fetch(url, sha);

        assertThat(Files.readAllBytes(path)).isEqualTo(data);
        assertThat(server.requests).singleElement().satisfies(r -> assertThat(r.range()).isEqualTo("bytes=500000-"));
    }

    @Test
    void aCompletePartIsFinishedWithout416Trouble() throws Exception {
        String url = server.base() + "/files/model.gguf";
        Path target = downloader().cachedFile(url);
        Files.createDirectories(cache);
        Files.write(sibling(target, ".part"), data);

        Path path = downloader().fetch(url, sha);

        assertThat(Files.readAllBytes(path)).isEqualTo(data);
        assertThat(server.requests).singleElement().satisfies(r -> assertThat(r.status()).isEqualTo(416));
    }

    @Test
    void checksumMismatchFailsAndKeepsNoFile() throws Exception {
        String url = server.base() + "/files/model.gguf";
        String wrong = "ab".repeat(32);

        assertThatThrownBy(() -> downloader().fetch(url, wrong))
                .isInstanceOf(ModelDownloadException.class)
                .hasMessageContaining("checksum mismatch")
                .hasMessageContaining("expected sha256 " + wrong)
                .hasMessageContaining("got " + sha);
        Path target = downloader().cachedFile(url);
        assertThat(target).doesNotExist();
        assertThat(sibling(target, ".part")).doesNotExist();
        assertThat(sibling(target, ".sha256")).doesNotExist();
    }

    @Test
    void checksumMismatchThroughTheCliExitsWithOne() {
        String url = server.base() + "/files/model.gguf#sha256=" + "cd".repeat(32);

        Run r = run("info", "--json", "--model", url, "--model-cache", cache.toString());

        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("checksum mismatch").contains("cd".repeat(32)).contains(sha)
                .doesNotContain("\tat ");
        assertThat(r.out()).isEmpty();
        try (var files = Files.list(cache)) {
            assertThat(files).isEmpty();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aCachedFileIsUsedWithoutTheNetwork() throws Exception {
        String url = server.base() + "/files/model.gguf";
        Path first = downloader().fetch(url, null);
        server.close(); // offline from here on
        server.requests.clear();

        Path again = downloader().fetch(url, null);
        Path checked = downloader().fetch(url + "#sha256=" + sha, null); // compared with the .sha256 file

        assertThat(again).isEqualTo(first);
        assertThat(checked).isEqualTo(first);
        assertThat(server.requests).isEmpty();
        assertThatThrownBy(() -> downloader().fetch(url, "00".repeat(32)))
                .isInstanceOf(ModelDownloadException.class).hasMessageContaining("cached").hasMessageContaining(sha);
    }

    @Test
    void hfNamesMapToTheResolveEndpointAndUseTheToken() throws Exception {
        server.files.put("/owner/repo/resolve/main/sub/dir/model.gguf", data);
        server.files.put("/owner/repo/resolve/v1.0/model.gguf", data);

        Path main = hf("hf_secret").fetch("hf:owner/repo/sub/dir/model.gguf", null);
        Path tagged = hf().fetch("hf:owner/repo@v1.0/model.gguf", null);

        assertThat(Files.readAllBytes(main)).isEqualTo(data);
        assertThat(main.getFileName().toString()).endsWith("-model.gguf");
        assertThat(tagged).isNotEqualTo(main);
        assertThat(server.requests).extracting(Req::path)
                .containsExactly("/owner/repo/resolve/main/sub/dir/model.gguf", "/owner/repo/resolve/v1.0/model.gguf");
        assertThat(server.requests.get(0).authorization()).isEqualTo("Bearer hf_secret");
        assertThat(server.requests.get(1).authorization()).isNull();
    }

    @Test
    void hfEndpointComesFromTheSystemProperty() {
        System.setProperty(ModelDownloader.HF_ENDPOINT_PROPERTY, server.base() + "/");
        try {
            ModelDownloader d = ModelDownloader.fromEnvironment(cache, err, false);
            assertThat(d.parse("hf:a/b@dev/x/y.gguf").uri().toString())
                    .isEqualTo(server.base() + "/a/b/resolve/dev/x/y.gguf");
        } finally {
            System.clearProperty(ModelDownloader.HF_ENDPOINT_PROPERTY);
        }
        assertThat(ModelDownloader.fromEnvironment(cache, err, false).parse("hf:a/b/c.gguf").uri().toString())
                .isEqualTo(System.getenv("HF_ENDPOINT") == null
                        ? "https://huggingface.co/a/b/resolve/main/c.gguf"
                        : System.getenv("HF_ENDPOINT").replaceAll("/+$", "") + "/a/b/resolve/main/c.gguf");
        assertThatThrownBy(() -> hf().parse("hf:owner/repo")).isInstanceOf(ModelDownloadException.class)
                .hasMessageContaining("hf:owner/repo/path/to/file.gguf");
        assertThatThrownBy(() -> hf().parse("hf:owner/repo/../x.gguf")).isInstanceOf(ModelDownloadException.class);
    }

    @Test
    void hfEtagIsTheChecksum() throws Exception {
        server.files.put("/o/r/resolve/main/good.gguf", data);
        server.etags.put("/o/r/resolve/main/good.gguf", "\"" + sha + "\"");
        byte[] other = randomBytes(100_000, 5);
        server.files.put("/o/r/resolve/main/bad.gguf", other);
        server.etags.put("/o/r/resolve/main/bad.gguf", "\"" + sha + "\""); // the server's bytes do not match it

        Path good = hf().fetch("hf:o/r/good.gguf", null);

        assertThat(Files.readAllBytes(good)).isEqualTo(data);
        assertThatThrownBy(() -> hf().fetch("hf:o/r/bad.gguf", null))
                .isInstanceOf(ModelDownloadException.class)
                .hasMessageContaining("checksum mismatch").hasMessageContaining("ETag")
                .hasMessageContaining(sha).hasMessageContaining(sha256(other));
        Path bad = hf().cachedFile("hf:o/r/bad.gguf");
        assertThat(bad).doesNotExist();
        assertThat(sibling(bad, ".part")).doesNotExist();
    }

    @Test
    void hfLinkedEtagOnTheRedirectIsTheChecksum() throws Exception {
        server.files.put("/cdn/blob", data);
        server.etags.put("/cdn/blob", "\"d41d8cd98f00b204e9800998ecf8427e-3\""); // an S3-style etag: not a sha256
        server.redirects.put("/o/r/resolve/main/lfs.gguf", "/cdn/blob");
        server.linkedEtags.put("/o/r/resolve/main/lfs.gguf", "\"" + "ef".repeat(32) + "\"");

        assertThatThrownBy(() -> hf().fetch("hf:o/r/lfs.gguf", null))
                .isInstanceOf(ModelDownloadException.class).hasMessageContaining("expected sha256 " + "ef".repeat(32));

        server.linkedEtags.put("/o/r/resolve/main/lfs.gguf", "\"" + sha + "\"");
        Path path = hf().fetch("hf:o/r/lfs.gguf", null);
        assertThat(Files.readAllBytes(path)).isEqualTo(data);
        assertThat(server.requests).extracting(Req::path).containsSubsequence("/o/r/resolve/main/lfs.gguf", "/cdn/blob");
    }

    @Test
    void httpErrorsNameTheStatusAndUrl() {
        String url = server.base() + "/files/missing.gguf";
        assertThatThrownBy(() -> downloader().fetch(url, null))
                .isInstanceOf(ModelDownloadException.class).hasMessage("HTTP 404 Not Found: " + url);

        server.statuses.put("/gated/repo/resolve/main/m.gguf", 401);
        assertThatThrownBy(() -> hf().fetch("hf:gated/repo/m.gguf", null))
                .isInstanceOf(ModelDownloadException.class)
                .hasMessageContaining("HTTP 401").hasMessageContaining("/gated/repo/resolve/main/m.gguf")
                .hasMessageContaining("HF_TOKEN");
        assertThat(cache.toFile().list()).isEmpty(); // no stray empty .part files
    }

    @Test
    void anUnreachableHostIsAClearError() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String url = "http://127.0.0.1:" + port + "/model.gguf";

        assertThatThrownBy(() -> downloader().fetch(url, null))
                .isInstanceOf(ModelDownloadException.class)
                .hasMessageContaining("cannot reach 127.0.0.1:" + port)
                .hasMessageContaining("offline? use a local path");
    }

    @Test
    void liveProgressRedrawsOneLineOnStderr() throws Exception {
        StringWriter text = new StringWriter();
        ModelDownloader d = new ModelDownloader(cache, server.base(), null, new PrintWriter(text, true), true);

        d.fetch(server.base() + "/files/model.gguf", null);

        assertThat(text.toString())
                .startsWith("\rDownloading model.gguf  0.0/3.0 MiB  ")
                .containsPattern("\rDownloading model\\.gguf  3\\.0/3\\.0 MiB  [0-9.]+ MiB/s  100% *\n$")
                .doesNotContain("Downloaded");
    }

    @Test
    void cliUsageErrors() {
        Run badHex = run("info", "--model", server.base() + "/files/model.gguf", "--sha256", "xyz");
        assertThat(badHex.code()).isEqualTo(2);
        assertThat(badHex.err()).contains("--sha256 must be 64 hex digits");
        Run localSha = run("info", "--model", "local.gguf", "--sha256", sha);
        assertThat(localSha.code()).isEqualTo(2);
        Run ftp = run("info", "--model", "ftp://example.com/model.gguf", "--model-cache", cache.toString());
        assertThat(ftp.code()).isEqualTo(1);
        assertThat(ftp.err()).contains("unsupported URL");
    }

    /** End to end: `info --json --model hf:...` downloads the demo model from the loopback server and loads it. */
    @Test
    void cliDownloadsAndLoadsAModel(@TempDir Path demoDir) throws Exception {
        Path demo = DemoModel.path(demoDir, new PrintWriter(new StringWriter()));
        byte[] model = Files.readAllBytes(demo);
        server.files.put("/llama-ffm/tiny/resolve/main/tiny.gguf", model);
        server.etags.put("/llama-ffm/tiny/resolve/main/tiny.gguf", "\"" + sha256(model) + "\"");
        System.setProperty(ModelDownloader.HF_ENDPOINT_PROPERTY, server.base());
        Run r;
        Run again;
        try {
            r = run("info", "--json", "--model", "hf:llama-ffm/tiny/tiny.gguf", "--model-cache", cache.toString());
            again = run("info", "--json", "--model", "hf:llama-ffm/tiny/tiny.gguf", "--model-cache",
                    cache.toString());
        } finally {
            System.clearProperty(ModelDownloader.HF_ENDPOINT_PROPERTY);
        }

        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = JSON.readTree(r.out()); // stdout is only the JSON: progress went to stderr
        assertThat(json.get("model").get("demoModel").asBoolean()).isFalse();
        assertThat(json.get("model").get("layers").asInt()).isEqualTo(DemoModel.SPEC.layers());
        Path path = Path.of(json.get("model").get("path").asText());
        assertThat(path).startsWith(cache.toAbsolutePath().normalize());
        assertThat(path.getFileName().toString()).endsWith("-tiny.gguf");
        assertThat(r.err()).contains("Downloading").doesNotContain(DemoModel.LABEL);
        assertThat(again.code()).as(again.err()).isZero();
        assertThat(again.err()).doesNotContain("Downloading");
        assertThat(server.requests).hasSize(1);
    }

    // ---- helpers ----

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        Cli cli = new Cli(new ByteArrayInputStream(new byte[0]));
        int code = Cli.commandLine(cli, new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static Path sibling(Path p, String suffix) {
        return p.resolveSibling(p.getFileName() + suffix);
    }

    private static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    record Req(String method, String path, String range, String authorization, int status) {
    }

    /** A loopback HTTP/1.1 file server with Range support that records every request. */
    static final class TestServer implements AutoCloseable {
        private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");
        final Map<String, byte[]> files = new ConcurrentHashMap<>();
        final Map<String, String> etags = new ConcurrentHashMap<>();
        final Map<String, String> redirects = new ConcurrentHashMap<>();
        final Map<String, String> linkedEtags = new ConcurrentHashMap<>();
        final Map<String, Integer> statuses = new ConcurrentHashMap<>();
        final Set<String> ignoreRange = ConcurrentHashMap.newKeySet();
        final Set<String> breakOffOnce = ConcurrentHashMap.newKeySet();
        final List<Req> requests = java.util.Collections.synchronizedList(new ArrayList<>());
        final java.util.concurrent.atomic.AtomicLong bytesSent = new java.util.concurrent.atomic.AtomicLong();
        private final HttpServer server;
        private boolean closed;

        TestServer() throws IOException {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.createContext("/", this::handle);
            server.start();
        }

        String base() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        private void handle(HttpExchange ex) throws IOException {
            String path = ex.getRequestURI().getPath();
            String range = ex.getRequestHeaders().getFirst("Range");
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            int[] status = {-1};
            try (ex) {
                status[0] = respond(ex, path, range);
            } finally {
                requests.add(new Req(ex.getRequestMethod(), path, range, auth, status[0]));
            }
        }

        private int respond(HttpExchange ex, String path, String range) throws IOException {
            var headers = ex.getResponseHeaders();
            if (statuses.containsKey(path)) {
                int status = statuses.get(path);
                ex.sendResponseHeaders(status, -1);
                return status;
            }
            if (redirects.containsKey(path)) {
                headers.set("Location", redirects.get(path));
                if (linkedEtags.containsKey(path)) {
                    headers.set("X-Linked-Etag", linkedEtags.get(path));
                }
                ex.sendResponseHeaders(302, -1);
                return 302;
            }
            byte[] body = files.get(path);
            if (body == null) {
                byte[] msg = "Entry not found".getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(404, msg.length);
                ex.getResponseBody().write(msg);
                return 404;
            }
            headers.set("Content-Type", "application/octet-stream");
            headers.set("Accept-Ranges", "bytes");
            if (etags.containsKey(path)) {
                headers.set("ETag", etags.get(path));
            }
            int from = 0;
            int status = 200;
            Matcher m = range == null || ignoreRange.contains(path) ? null : RANGE.matcher(range);
            if (m != null && m.matches()) {
                long start = Long.parseLong(m.group(1));
                if (start >= body.length) {
                    headers.set("Content-Range", "bytes */" + body.length);
                    ex.sendResponseHeaders(416, -1);
                    return 416;
                }
                from = (int) start;
                status = 206;
                headers.set("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
            }
            int length = body.length - from;
            ex.sendResponseHeaders(status, length);
            OutputStream os = ex.getResponseBody();
            if (breakOffOnce.remove(path)) {
                int half = length / 2;
                os.write(body, from, half);
                os.flush();
                bytesSent.addAndGet(half);
                // Hang up with fewer bytes than announced (closing the exchange then drops the connection).
                throw new IOException("breaking off on purpose");
            }
            os.write(body, from, length);
            bytesSent.addAndGet(length);
            return status;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                server.stop(0);
            }
        }
    }
}
