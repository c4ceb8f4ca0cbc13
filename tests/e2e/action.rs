//! The GitHub Action (action.yml, ci/action/run.sh) and the workflow template
//! (ci/github/workflow.yml): actionlint on the template, and the action's gate step run
//! locally with the `GITHUB_*` files in a temp folder, against real git repositories and the
//! binaries cargo built. Every verdict is checked against what the gate itself prints.

use crate::support::precommit::*;
use crate::support::repo::*;
#[allow(unused_imports)]
use crate::support::run::PRECOMMIT as BIN;
use crate::support::run::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = env!("CARGO_MANIFEST_DIR");
const FIX: &[u8] = b"import os\nprint('fixing the enum')\n";
// `%`, `,` and `:` are escaped differently in an annotation's properties and its message.
const ODD_NAME: &str = "hotfix_50%,v2:orgs.py";

/// `actionlint` from the actionlint wheel (ci/requirements.txt); a missing linter fails the
/// test rather than skipping it.
fn actionlint(dir: &Path, files: &[&str]) -> Run {
    let out = Command::new("actionlint")
        .args(["-no-color"])
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run actionlint ({e}): pip install -r ci/requirements.txt installs it")
        });
    Run::from(out)
}

/// What the action's gate step left behind.
#[derive(Debug)]
struct ActionRun {
    run: Run,
    outputs: String,
    summary: String,
}

impl ActionRun {
    /// The value of `name` in `$GITHUB_OUTPUT` (the last one written wins, as on GitHub).
    fn output(&self, name: &str) -> Option<&str> {
        self.outputs
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .next_back()
    }
}

/// `ci/action/run.sh gate` in `repo`, as the composite action's step runs it: the built
/// binaries first on PATH, install skipped, every `GITHUB_*` file in a temp folder.
fn run_action(repo: &Repo, inputs: &[(&str, &str)]) -> ActionRun {
    let runner = repo.tmp.path().join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let outputs = runner.join("github_output");
    let summary = runner.join("step_summary");
    std::fs::write(&outputs, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    let bin_dir = Path::new(PRECOMMIT).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = repo.cmd("bash");
    cmd.arg(Path::new(SOURCE).join("ci/action/run.sh"))
        .arg("gate")
        .env("PATH", path)
        .env("INPUT_INSTALL", "false")
        .env("GITHUB_ACTION_PATH", SOURCE)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", repo.root.canonicalize().unwrap())
        .env("RUNNER_TEMP", &runner)
        .env("GITHUB_ACTIONS", "true");
    for var in ["INPUT_ARGS", "INPUT_FORMAT", "INPUT_SARIF", "GATE_TODAY"] {
        cmd.env_remove(var);
    }
    for (name, value) in inputs {
        cmd.env(name, value);
    }
    let run = Run::from(cmd.output().expect("run ci/action/run.sh"));
    ActionRun {
        run,
        outputs: std::fs::read_to_string(&outputs).unwrap(),
        summary: std::fs::read_to_string(&summary).unwrap(),
    }
}

/// A repository that broke the rules: two unregistered emergency scripts committed with
/// --no-verify, one with a name that needs escaping.
fn repo_with_unregistered_scripts() -> Repo {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.write(ODD_NAME, FIX);
    repo.write("app/main.py", b"print('app')\n");
    repo.git(&["add", "."]);
    repo.commit("sneaked past the hook with --no-verify");
    repo
}

/// The action's scripts under ShellCheck (Debian's `shellcheck`, installed by ci/setup.sh);
/// a missing linter fails the test.
#[test]
fn action_scripts_are_shellcheck_clean() {
    let out = Command::new("shellcheck")
        .args(["ci/action/run.sh", "ci/action/cache-key.sh"])
        .current_dir(SOURCE)
        .output()
        .unwrap_or_else(|e| panic!("cannot run shellcheck ({e}): apt-get install shellcheck"));
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn workflow_templates_are_actionlint_clean() {
    let run = actionlint(
        Path::new(SOURCE),
        &["ci/github/workflow.yml", "ci/github/drift.yml"],
    );
    assert_eq!(run.code, 0, "{run}");
}

/// The template as a user's repository would hold it, with `OWNER/migration-gate@v1`
/// pointing at this checkout's action.yml (`./`), so actionlint also checks every `with:` key
/// against the action's declared inputs; the older `./ci/github` action likewise.
#[test]
fn workflow_template_matches_the_action_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let workflows = root.join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::create_dir_all(root.join("ci/github")).unwrap();
    std::fs::copy(
        Path::new(SOURCE).join("action.yml"),
        root.join("action.yml"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(SOURCE).join("ci/github/action.yml"),
        root.join("ci/github/action.yml"),
    )
    .unwrap();
    let template =
        std::fs::read_to_string(Path::new(SOURCE).join("ci/github/workflow.yml")).unwrap();
    assert_eq!(template.matches("OWNER/migration-gate@v1").count(), 3);
    std::fs::write(
        workflows.join("migration-gate.yml"),
        template.replace("OWNER/migration-gate@v1", "./"),
    )
    .unwrap();
    std::fs::write(
        workflows.join("in-repository.yml"),
        "name: in-repository\non: pull_request\npermissions:\n  contents: read\njobs:\n  precommit:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v5\n      - uses: ./ci/github\n        with:\n          gate: precommit\n          args: --repo .\n",
    )
    .unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(git.success());
    let run = actionlint(root, &[]);
    assert_eq!(run.code, 0, "{run}");

    // The check is real: an input the action does not declare is an error.
    std::fs::write(
        workflows.join("migration-gate.yml"),
        template.replace("OWNER/migration-gate@v1", "./").replace(
            "gate: approve",
            "gate: approve\n          fail-on: warnings",
        ),
    )
    .unwrap();
    let run = actionlint(root, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("input \"fail-on\" is not defined"),
        "{run}"
    );
}

#[test]
fn action_propagates_findings_as_exit_1_with_counts_and_annotations() {
    let repo = repo_with_unregistered_scripts();
    let action = run_action(&repo, &[("INPUT_GATE", "precommit")]);
    assert_eq!(action.run.code, 1, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("1"), "{action:?}");
    assert_eq!(action.output("errors"), Some("2"), "{action:?}");
    assert_eq!(action.output("warnings"), Some("0"), "{action:?}");

    // The counts and the report are the gate's own.
    let plain = repo.precommit(&["--all", "--format", "json"]);
    assert_eq!(plain.code, 1, "{plain}");
    assert_eq!(plain.json()["summary"]["errors"], 2, "{plain}");
    let report = PathBuf::from(action.output("report").expect("report output"));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["findings"], plain.json()["findings"]);

    // Each annotation is exactly what the gate's own github format prints for the finding.
    let github = repo.precommit(&["--all", "--format", "github"]);
    let expected: Vec<&str> = github
        .stdout
        .lines()
        .filter(|l| l.starts_with("::"))
        .collect();
    let annotations: Vec<&str> = action
        .run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::"))
        .collect();
    assert_eq!(expected.len(), 2, "{github}");
    assert_eq!(annotations, expected, "{action:?}");
    assert!(
        annotations
            .iter()
            .any(|a| a.contains("file=hotfix_50%25%2Cv2%3Aorgs.py,")),
        "{action:?}"
    );

    // One summary: counts in the heading, both findings in the text block.
    assert!(
        action
            .summary
            .starts_with("### ❌ gate-precommit: 2 errors, 0 warnings, 0 notes"),
        "{action:?}"
    );
    assert!(
        action
            .summary
            .contains("error[G001] emergency_db_fix.py: emergency_db_fix.py is an unregistered"),
        "{action:?}"
    );
    assert_eq!(action.summary.matches("###").count(), 1, "{action:?}");
}

#[test]
fn action_passes_a_clean_repository_with_exit_0() {
    let repo = Repo::with_policy(&policy(true, ""));
    repo.write("app/main.py", b"print('app')\n");
    repo.git(&["add", "."]);
    repo.commit("app");
    let action = run_action(&repo, &[("INPUT_GATE", "precommit")]);
    assert_eq!(action.run.code, 0, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("0"), "{action:?}");
    assert_eq!(action.output("errors"), Some("0"), "{action:?}");
    assert!(
        !action.run.stdout.lines().any(|l| l.starts_with("::")),
        "{action:?}"
    );
    assert!(
        action
            .summary
            .starts_with("### ✅ gate-precommit: 0 errors"),
        "{action:?}"
    );
    assert_eq!(repo.precommit(&["--all"]).code, 0);
}

#[test]
fn action_keeps_exit_2_for_a_broken_policy_and_annotates_its_line() {
    let broken = policy(true, "").replace("kind = \"alembic\"", "kind = \"alembc\"");
    let line = broken
        .lines()
        .position(|l| l.contains("alembc"))
        .expect("kind line")
        + 1;
    let repo = Repo::with_policy(&broken);
    repo.write("emergency_db_fix.py", FIX);
    let plain = repo.precommit(&["--all"]);
    assert_eq!(plain.code, 2, "{plain}");

    let action = run_action(&repo, &[("INPUT_GATE", "precommit")]);
    assert_eq!(action.run.code, 2, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("2"), "{action:?}");
    // Today the gates print exit-2 errors on stderr only, and the action annotates them at
    // the policy's line; a gate that also renders them as a finding in the JSON report
    // (issue 11) gets that finding's annotation and counts instead.
    let annotation = match action.output("report") {
        None => {
            assert_eq!(action.output("errors"), Some(""), "{action:?}");
            format!(
                "::error file=policy.toml,line={line},col=8,title=gate-precommit could not check (exit 2)::"
            )
        }
        Some(_) => {
            assert_ne!(action.output("errors"), Some("0"), "{action:?}");
            format!("::error file=policy.toml,line={line},col=8,")
        }
    };
    assert!(action.run.stdout.contains(&annotation), "{action:?}");
    assert!(action.run.stderr.contains("alembc"), "{action:?}");
    assert!(
        action
            .summary
            .starts_with("### ⚠️ gate-precommit could not check (exit 2)"),
        "{action:?}"
    );
}

#[test]
fn action_writes_sarif_beside_the_annotations() {
    let repo = repo_with_unregistered_scripts();
    let sarif = repo.tmp.path().join("out/migration-gate.sarif");
    let action = run_action(
        &repo,
        &[
            ("INPUT_GATE", "precommit"),
            ("INPUT_SARIF", sarif.to_str().unwrap()),
        ],
    );
    assert_eq!(action.run.code, 1, "{action:?}");
    assert_eq!(action.output("sarif"), sarif.to_str(), "{action:?}");
    let text = std::fs::read_to_string(&sarif).unwrap();
    // Accepted by the SARIF 2.1.0 schema, as code scanning's upload requires.
    crate::support::consumers::assert_valid_sarif(&text);
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{log}");
    assert!(results.iter().all(|r| r["ruleId"] == "G001"), "{log}");
    assert_eq!(
        action
            .run
            .stdout
            .lines()
            .filter(|l| l.starts_with("::error "))
            .count(),
        2,
        "{action:?}"
    );
}

/// `format: junit` for CI systems that read test reports: a JUnit document the Jenkins
/// junit-10 and Ant schemas accept, one case per check and subject, in the log and as a file.
#[test]
fn action_prints_junit_that_the_schemas_accept() {
    let repo = repo_with_unregistered_scripts();
    let action = run_action(
        &repo,
        &[("INPUT_GATE", "precommit"), ("INPUT_FORMAT", "junit")],
    );
    assert_eq!(action.run.code, 1, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("1"), "{action:?}");
    // The log shows it; the `rendered` output names the file a test reporter reads.
    let file = action.output("rendered").expect("a rendered output");
    let xml = &std::fs::read_to_string(file).unwrap();
    assert!(action.run.stdout.contains(xml.as_str()), "{action:?}");
    crate::support::consumers::assert_valid_junit(xml);
    let failures = xml
        .lines()
        .filter(|l| l.trim_start().starts_with("<failure"))
        .count();
    assert_eq!(failures, 2, "{xml}");
}

#[test]
fn action_rejects_a_format_in_args_with_exit_2() {
    let repo = repo_with_unregistered_scripts();
    let action = run_action(
        &repo,
        &[
            ("INPUT_GATE", "precommit"),
            ("INPUT_ARGS", "--format sarif"),
        ],
    );
    assert_eq!(action.run.code, 2, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("2"), "{action:?}");
    assert!(action.run.stdout.contains("format input"), "{action:?}");
}

/// The Code Quality step of the GitLab template (ci/gitlab/.gitlab-ci.yml), taken from the
/// YAML as GitLab reads it (PyYAML, installed with pre-commit), run on a real JSON report.
#[test]
fn gitlab_template_converts_the_report_to_code_quality() {
    let repo = repo_with_unregistered_scripts();
    let report = repo.precommit(&["--all", "--format", "json"]);
    assert_eq!(report.code, 1, "{report}");
    std::fs::write(repo.path("migration-gate.json"), &report.stdout).unwrap();

    let extract = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml\n\
             ci = yaml.safe_load(open(sys.argv[1]))\n\
             assert {'migration-gate:precommit', 'migration-gate:approve', 'migration-gate:replay'} <= set(ci)\n\
             assert ci['migration-gate:approve']['variables']['GIT_DEPTH'] == '0'\n\
             [step] = [s for s in ci['.migration-gate']['script'] if s.startswith('python3 -')]\n\
             sys.stdout.write(step)",
        ])
        .arg(Path::new(SOURCE).join("ci/gitlab/.gitlab-ci.yml"))
        .output()
        .expect("run python3");
    let extract = Run::from(extract);
    assert_eq!(extract.code, 0, "{extract}");

    let convert = Run::from(
        repo.cmd("bash")
            .arg("-c")
            .arg(format!("status=1\n{}", extract.stdout))
            .output()
            .unwrap(),
    );
    assert_eq!(convert.code, 0, "{convert}");
    let issues: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path("gl-code-quality-report.json")).unwrap())
            .unwrap();
    let issues = issues.as_array().expect("a JSON array");
    let findings = report.json()["findings"].as_array().unwrap().clone();
    assert_eq!(issues.len(), findings.len());
    for (issue, finding) in issues.iter().zip(&findings) {
        assert_eq!(issue["severity"], "critical");
        assert_eq!(issue["check_name"], "G001 unregistered-emergency-script");
        assert_eq!(issue["location"]["path"], finding["path"]);
        assert_eq!(issue["location"]["lines"]["begin"], 1);
        assert_eq!(issue["fingerprint"].as_str().unwrap().len(), 64);
    }
    assert_ne!(issues[0]["fingerprint"], issues[1]["fingerprint"]);
}

/// Runs action.yml's own steps as the runner would: `${{ … }}` in `env`, `run` and `if`
/// evaluated for the subset the action uses (inputs with their defaults, step outputs,
/// github.action_path / action_ref / token, always()); `run:` steps executed with bash and a fresh
/// `$GITHUB_OUTPUT` each; `uses:` steps reported with their evaluated `if` and `with`, not
/// run (they are GitHub's own actions). Prints the action's outputs and the steps as JSON, on
/// the last line.
const ACTION_YML_RUNNER: &str = r#"
import json, os, re, subprocess, sys, tempfile, yaml
action_path, inputs = sys.argv[1], json.loads(sys.argv[2])
action = yaml.safe_load(open(os.path.join(action_path, "action.yml")))
values = {k: str(inputs.get(k, v.get("default", ""))) for k, v in action["inputs"].items()}
assert set(inputs) <= set(values), f"unknown inputs {set(inputs) - set(values)}"
steps = {}
def lookup(expr):
    expr = expr.strip()
    if m := re.fullmatch(r"inputs\.([\w-]+)", expr): return values[m[1]]
    if m := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr): return steps.get(m[1], {}).get(m[2], "")
    if expr == "github.action_path": return action_path
    if expr == "github.action_ref": return "v1"
    if expr == "runner.os": return "Linux"
    if expr == "github.token": return "test-token"
    raise SystemExit(f"expression not understood by this test: {expr}")
def subst(text): return re.sub(r"\$\{\{(.*?)\}\}", lambda m: lookup(m[1]), str(text))
def condition(expr):
    if expr is None: return ok
    py = re.sub(r"(inputs|steps|github)\.[\w.-]+", lambda m: repr(lookup(m[0])), expr)
    py = py.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
    return eval(py)
ok, report = True, []
for step in action["runs"]["steps"]:
    run_it = condition(step.get("if"))
    entry = {"name": subst(step.get("name", "")), "ran": run_it}
    if "uses" in step:
        entry["uses"] = step["uses"]
        entry["with"] = {k: subst(v) for k, v in step.get("with", {}).items()}
    elif run_it:
        out = tempfile.NamedTemporaryFile(delete=False)
        env = dict(os.environ, GITHUB_OUTPUT=out.name, GITHUB_ACTION_PATH=action_path)
        env.update({k: subst(v) for k, v in step.get("env", {}).items()})
        code = subprocess.run(["bash", "-e", "-c", subst(step["run"])], env=env).returncode
        steps[step.get("id", "")] = dict(l.split("=", 1) for l in open(out.name).read().splitlines() if "=" in l)
        entry["exit"] = code
        ok = ok and code == 0
    report.append(entry)
outputs = {k: subst(v["value"]) for k, v in action.get("outputs", {}).items()}
print(json.dumps({"outputs": outputs, "steps": report}))
"#;

#[test]
fn action_yml_steps_wire_inputs_to_the_script_and_outputs_back() {
    let repo = repo_with_unregistered_scripts();
    let runner = repo.tmp.path().join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let sarif = runner.join("gate.sarif");
    let inputs = serde_json::json!({
        "gate": "precommit", "install": "false", "sarif": sarif.to_str().unwrap(),
    });
    let bin_dir = Path::new(PRECOMMIT).parent().unwrap();
    let out = repo
        .cmd("python3")
        .args(["-c", ACTION_YML_RUNNER, SOURCE, &inputs.to_string()])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("RUNNER_TEMP", &runner)
        .env("GITHUB_STEP_SUMMARY", runner.join("summary"))
        .env("GITHUB_WORKSPACE", repo.root.canonicalize().unwrap())
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{run}");
    // The action's own log (annotations) comes first; the runner's JSON is the last line.
    let result: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no JSON last line ({e}): {run}"));
    let outputs = &result["outputs"];
    assert_eq!(outputs["exit-code"], "1", "{run}");
    assert_eq!(outputs["errors"], "2", "{run}");
    assert_eq!(outputs["warnings"], "0", "{run}");
    assert_eq!(outputs["sarif"], sarif.to_str().unwrap(), "{run}");
    assert!(
        Path::new(outputs["report"].as_str().unwrap()).is_file(),
        "{run}"
    );
    assert!(
        run.stdout.contains("::error file=emergency_db_fix.py,"),
        "{run}"
    );

    let steps = result["steps"].as_array().unwrap();
    let step = |uses: &str| {
        steps
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(uses)))
            .unwrap_or_else(|| panic!("no {uses} step: {run}"))
    };
    // install: false skips the cache; findings (exit 1) still upload the SARIF file.
    assert_eq!(step("actions/cache/restore")["ran"], false, "{run}");
    assert_eq!(step("actions/cache/save")["ran"], false, "{run}");
    let upload = step("github/codeql-action/upload-sarif");
    assert_eq!(upload["ran"], true, "{run}");
    assert_eq!(
        upload["with"]["sarif_file"],
        sarif.to_str().unwrap(),
        "{run}"
    );
    assert_eq!(
        upload["with"]["category"], "migration-gate-precommit",
        "{run}"
    );
    let gate = steps
        .iter()
        .find(|s| s["name"] == "Run gate-precommit")
        .expect("gate step");
    assert_eq!(gate["exit"], 1, "{run}");
}

/// The cache key follows the sources cargo builds from, not only the ref: a moved `v1` tag
/// must not restore the binaries built from the old code.
#[test]
fn cache_key_changes_with_the_sources_under_the_same_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path();
    std::fs::create_dir_all(source.join("crates/cli/src")).unwrap();
    std::fs::write(source.join("Cargo.toml"), "[workspace]\n").unwrap();
    std::fs::write(source.join("Cargo.lock"), "version = 4\n").unwrap();
    std::fs::write(source.join("crates/cli/src/lib.rs"), "pub fn a() {}\n").unwrap();
    std::fs::write(source.join("crates/cli/README.md"), "docs\n").unwrap();
    let key = || {
        let out = Command::new("bash")
            .arg(Path::new(SOURCE).join("ci/action/cache-key.sh"))
            .env("MIGRATION_GATE_SOURCE", source)
            .env("ACTION_REF", "v1")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("INPUT_VERSION")
            .output()
            .unwrap();
        let run = Run::from(out);
        assert_eq!(run.code, 0, "{run}");
        run.stdout.trim().to_string()
    };
    let first = key();
    assert!(
        first.starts_with("key=migration-gate-Linux-X64-v1-self-"),
        "{first}"
    );
    assert_eq!(key(), first, "the same sources give the same key");
    std::fs::write(source.join("crates/cli/README.md"), "more docs\n").unwrap();
    assert_eq!(key(), first, "documentation is not built");
    std::fs::write(source.join("crates/cli/src/lib.rs"), "pub fn b() {}\n").unwrap();
    assert_ne!(key(), first, "changed code needs a new build");
}

/// GitHub shows 10 error annotations per step and drops the rest silently: the action prints
/// 10 and a notice that counts the others, while the outputs and the summary keep them all.
#[test]
fn action_caps_annotations_at_githubs_limit_and_counts_the_rest() {
    let repo = Repo::with_policy(&policy(true, ""));
    for i in 0..12 {
        repo.write(format!("emergency_fix_{i:02}.py"), FIX);
    }
    let action = run_action(&repo, &[("INPUT_GATE", "precommit")]);
    assert_eq!(action.run.code, 1, "{action:?}");
    assert_eq!(action.output("errors"), Some("12"), "{action:?}");
    let errors = action
        .run
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .count();
    assert_eq!(errors, 10, "{action:?}");
    assert!(
        action.run.stdout.contains(
            "::notice title=Migration Gate::2 more error findings are in the job summary"
        ),
        "{action:?}"
    );
    assert_eq!(
        action.summary.matches("error[G001]").count(),
        12,
        "{action:?}"
    );
}

/// The older in-repository action (ci/github/action.yml) still runs: the same script, from
/// the source tree two folders up, with annotations (binaries from PATH: INPUT_INSTALL=false
/// in the environment, which its steps do not override).
#[test]
fn in_repository_action_still_runs_the_gate() {
    let repo = repo_with_unregistered_scripts();
    let runner = repo.tmp.path().join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let bin_dir = Path::new(PRECOMMIT).parent().unwrap();
    let action_path = Path::new(SOURCE).join("ci/github");
    let out = repo
        .cmd("python3")
        .args(["-c", ACTION_YML_RUNNER])
        .arg(&action_path)
        .arg(r#"{"gate": "precommit"}"#)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("INPUT_INSTALL", "false")
        .env("RUNNER_TEMP", &runner)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{run}");
    let result: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no JSON last line ({e}): {run}"));
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps[0]["exit"], 0, "install step: {run}");
    assert_eq!(steps[1]["exit"], 1, "gate step: {run}");
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.starts_with("::error file="))
            .count(),
        2,
        "{run}"
    );
}

/// Issue 11, "one summary per job": with the replay input the approve step runs
/// `gate-approve report --replay …` over every shard's JSON in a folder, the replay's findings
/// join the verdict, a missing shard is a finding, and the job summary is that one report.
#[test]
fn approve_with_replay_reports_writes_one_joined_summary() {
    use crate::support::approve::APPROVAL;
    let repo = Repo::approved_by_lead("", APPROVAL);
    assert_eq!(repo.check().code, 0, "governance alone passes");
    let reports = repo.tmp.path().join("replay-reports");
    std::fs::create_dir_all(reports.join("replay-shard-1")).unwrap();
    let shard = serde_json::json!({
        "version": 1, "tool": "gate-replay", "subject": "13 migrations",
        "summary": {"errors": 1, "warnings": 0, "notes": 0, "passed": false},
        "findings": [{"code": "R003", "severity": "error", "path": "schema.snapshot.json",
                      "line": null, "column": null, "message": "schema differs from the snapshot", "help": ""}],
        "sections": [{"title": "Shard", "data": {"shard": 1, "of": 2, "fixes": [], "all_fixes": []}}],
    });
    std::fs::write(
        reports.join("replay-shard-1/migration-gate-replay.json"),
        shard.to_string(),
    )
    .unwrap();
    let action = run_action(
        &repo,
        &[
            ("INPUT_GATE", "approve"),
            ("INPUT_REPLAY", reports.to_str().unwrap()),
            ("GATE_TODAY", crate::support::approve::TODAY),
        ],
    );
    assert_eq!(action.run.code, 1, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("1"), "{action:?}");
    // R003 from the replay and R010 for the shard that never arrived.
    assert_eq!(action.output("errors"), Some("2"), "{action:?}");
    let summary = &action.summary;
    assert_eq!(
        summary.matches("## ❌ gate-approve").count(),
        1,
        "{summary}"
    );
    assert!(
        !summary.contains("~~~text"),
        "one summary, not two: {summary}"
    );
    assert!(summary.contains("### Replay"), "{summary}");
    assert!(summary.contains("shard 2/2 is missing"), "{summary}");

    // A folder without any report is exit 2, never a report without the replay.
    let empty = repo.tmp.path().join("nothing-here");
    std::fs::create_dir_all(&empty).unwrap();
    let action = run_action(
        &repo,
        &[
            ("INPUT_GATE", "approve"),
            ("INPUT_REPLAY", empty.to_str().unwrap()),
        ],
    );
    assert_eq!(action.run.code, 2, "{action:?}");
    assert!(
        action.run.stdout.contains("no gate-replay JSON report"),
        "{action:?}"
    );
}

/// A stand-in for GitHub's issue-comments REST API on loopback (the real one is not reachable
/// from here): comments kept in memory, and after every request the comments and the request
/// log (`METHOD path auth`) written to the file named by argv[1]. Prints its port.
const COMMENTS_API: &str = r#"
import http.server, json, sys, urllib.parse
state = {"comments": [{"id": 1, "body": "LGTM"}], "requests": []}
class Api(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def reply(self, code, obj):
        state["requests"].append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
        json.dump(state, open(sys.argv[1], "w"))
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def sent(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"]
    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        page = int(query.get("page", ["1"])[0])
        self.reply(200, state["comments"][(page - 1) * 100 : page * 100])
    def do_POST(self):
        comment = {"id": 1000 + len(state["comments"]), "body": self.sent()}
        state["comments"].append(comment)
        self.reply(201, comment)
    def do_PATCH(self):
        wanted = int(self.path.rsplit("/", 1)[1])
        body = self.sent()
        for c in state["comments"]:
            if c["id"] == wanted:
                c["body"] = body
        self.reply(200, {})
server = http.server.HTTPServer(("127.0.0.1", 0), Api)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The comments API stand-in, killed when dropped.
struct CommentsApi {
    child: std::process::Child,
    url: String,
    state: PathBuf,
}

impl CommentsApi {
    fn start(dir: &Path) -> CommentsApi {
        use std::io::BufRead as _;
        let state = dir.join("api-state.json");
        let mut child = Command::new("python3")
            .args(["-c", COMMENTS_API])
            .arg(&state)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        CommentsApi {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
            state,
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&self.state).unwrap()).unwrap()
    }
}

impl Drop for CommentsApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `comment: true` on a pull request: the first run posts one comment holding the job
/// summary, the next run updates that same comment (no pile of verdicts), another user's
/// comment is never touched, and without a token nothing is sent and the gate's exit code
/// stands.
#[test]
fn action_keeps_one_sticky_comment_per_gate_on_the_pull_request() {
    let repo = repo_with_unregistered_scripts();
    let api = CommentsApi::start(repo.tmp.path());
    let event = repo.tmp.path().join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    let event = event.to_str().unwrap();
    let inputs = |token: &'static str| {
        vec![
            ("INPUT_GATE", "precommit"),
            ("INPUT_COMMENT", "true"),
            ("GITHUB_TOKEN", token),
            ("GITHUB_API_URL", api.url.as_str()),
            ("GITHUB_REPOSITORY", "acme/app"),
            ("GITHUB_EVENT_PATH", event),
        ]
    };
    let first = run_action(&repo, &inputs("t0ken"));
    assert_eq!(first.run.code, 1, "{first:?}");
    assert!(api.state.exists(), "no request reached the API: {first:?}");
    let state = api.state();
    let comments = state["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2, "{state:#}");
    assert_eq!(comments[0]["body"], "LGTM");
    let body = comments[1]["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- migration-gate:precommit -->\n"),
        "{body}"
    );
    assert!(
        body.contains(&first.summary),
        "{body}\n---\n{}",
        first.summary
    );
    assert!(body.contains("G001"), "{body}");

    // The developer registers nothing but deletes one script: the same comment, updated.
    repo.git(&["rm", "-q", "emergency_db_fix.py"]);
    repo.git(&["commit", "-q", "--no-verify", "-m", "drop one script"]);
    let second = run_action(&repo, &inputs("t0ken"));
    assert_eq!(second.run.code, 1, "{second:?}");
    let state = api.state();
    let comments = state["comments"].as_array().unwrap();
    assert_eq!(
        comments.len(),
        2,
        "updated in place, not posted again: {state:#}"
    );
    let body = comments[1]["body"].as_str().unwrap();
    assert!(!body.contains("emergency_db_fix.py"), "{body}");
    let requests: Vec<&str> = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        requests
            .iter()
            .all(|r| r.ends_with(" Bearer t0ken") && r.contains("/repos/acme/app/issues/")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("PATCH /repos/acme/app/issues/comments/1001 ")),
        "{requests:#?}"
    );

    let no_token = run_action(&repo, &inputs(""));
    assert_eq!(no_token.run.code, 1, "{no_token:?}");
    assert!(
        no_token.run.stdout.contains("no GITHUB_TOKEN"),
        "{no_token:?}"
    );
    assert_eq!(
        api.state()["requests"].as_array().unwrap().len(),
        requests.len(),
        "nothing sent without a token"
    );
}
