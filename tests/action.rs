//! The GitHub Action (action.yml, ci/action/run.sh) and the workflow template
//! (ci/github/workflow.yml): actionlint on the template, and the action's gate step run
//! locally with the `GITHUB_*` files in a temp folder, against real git repositories and the
//! binaries cargo built. Every verdict is checked against what the gate itself prints.

mod precommit_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use precommit_support::{Repo, Run, policy};

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
    let bin_dir = Path::new(precommit_support::BIN).parent().unwrap();
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
    let repo = Repo::new(&policy(true, ""));
    repo.write("emergency_db_fix.py", FIX);
    repo.write(ODD_NAME, FIX);
    repo.write("app/main.py", b"print('app')\n");
    repo.git(&["add", "."]);
    repo.commit("sneaked past the hook with --no-verify");
    repo
}

#[test]
fn workflow_template_is_actionlint_clean() {
    let run = actionlint(Path::new(SOURCE), &["ci/github/workflow.yml"]);
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
    let plain = repo.gate(&["--all", "--format", "json"]);
    assert_eq!(plain.code, 1, "{plain}");
    assert_eq!(plain.json()["summary"]["errors"], 2, "{plain}");
    let report = PathBuf::from(action.output("report").expect("report output"));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["findings"], plain.json()["findings"]);

    // Each annotation is exactly what the gate's own github format prints for the finding.
    let github = repo.gate(&["--all", "--format", "github"]);
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
    let repo = Repo::new(&policy(true, ""));
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
    assert_eq!(repo.gate(&["--all"]).code, 0);
}

#[test]
fn action_keeps_exit_2_for_a_broken_policy_and_annotates_its_line() {
    let broken = policy(true, "").replace("kind = \"alembic\"", "kind = \"alembc\"");
    let line = broken
        .lines()
        .position(|l| l.contains("alembc"))
        .expect("kind line")
        + 1;
    let repo = Repo::new(&broken);
    repo.write("emergency_db_fix.py", FIX);
    let plain = repo.gate(&["--all"]);
    assert_eq!(plain.code, 2, "{plain}");

    let action = run_action(&repo, &[("INPUT_GATE", "precommit")]);
    assert_eq!(action.run.code, 2, "{action:?}");
    assert_eq!(action.output("exit-code"), Some("2"), "{action:?}");
    assert_eq!(action.output("errors"), Some(""), "{action:?}");
    assert_eq!(action.output("report"), None, "{action:?}");
    let annotation = format!(
        "::error file=policy.toml,line={line},col=8,title=gate-precommit could not check (exit 2)::"
    );
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
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
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
    let report = repo.gate(&["--all", "--format", "json"]);
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
