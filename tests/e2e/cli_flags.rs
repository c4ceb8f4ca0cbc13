//! `--quiet`, `--verbose`, `--color`, `explain CODE` and `completions SHELL` on the real
//! binaries.

use crate::support::precommit::*;
use crate::support::repo::*;
#[allow(unused_imports)]
use crate::support::run::PRECOMMIT as BIN;
use crate::support::run::*;
use std::process::Command;

const BINARIES: [&str; 3] = [
    env!("CARGO_BIN_EXE_gate-precommit"),
    env!("CARGO_BIN_EXE_gate-replay"),
    env!("CARGO_BIN_EXE_gate-approve"),
];

fn repo_with_g001() -> Repo {
    let repo = Repo::with_policy(&policy(false, ""));
    repo.write("emergency_fix.py", b"print(1)\n");
    repo.git(&["add", "emergency_fix.py", "policy.toml"]);
    repo
}

fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("run the binary"))
}

#[test]
fn quiet_prints_the_findings_without_the_summary_line() {
    let repo = repo_with_g001();
    let normal = repo.precommit(&["--color", "never"]);
    assert_eq!(normal.code, 1, "{normal:?}");
    assert!(normal.stdout.contains("error[G001]"), "{normal:?}");
    assert!(
        normal.stdout.contains("gate-precommit: 1 error"),
        "{normal:?}"
    );

    let quiet = repo.precommit(&["--quiet", "--color", "never"]);
    assert_eq!(quiet.code, 1, "the verdict does not change: {quiet:?}");
    assert!(quiet.stdout.contains("error[G001]"), "{quiet:?}");
    assert!(!quiet.stdout.contains("gate-precommit:"), "{quiet:?}");
    assert!(quiet.stderr.is_empty(), "{quiet:?}");
}

#[test]
fn verbose_adds_what_was_read_and_timings_on_stderr() {
    let repo = repo_with_g001();
    let normal = repo.precommit(&["--format", "json"]);
    assert!(!normal.stderr.contains("read policy"), "{normal:?}");

    let verbose = repo.precommit(&["--verbose", "--format", "json"]);
    assert_eq!(verbose.code, 1, "{verbose:?}");
    // stdout stays the report alone.
    assert_eq!(verbose.json()["summary"]["errors"], 1);
    assert!(verbose.stderr.contains("gate-precommit: ["), "{verbose:?}");
    assert!(verbose.stderr.contains(" ms] read policy "), "{verbose:?}");
    assert!(verbose.stderr.contains("done: 1 errors"), "{verbose:?}");

    let both = repo.precommit(&["--verbose", "--quiet"]);
    assert_eq!(both.code, 2, "--quiet and --verbose conflict: {both:?}");
}

#[test]
fn color_always_never_and_auto_with_the_environment() {
    let repo = repo_with_g001();
    let esc = "\u{1b}[";
    let always = repo.precommit(&["--color", "always"]);
    assert!(always.stdout.contains(esc), "{always:?}");

    let never = run(repo
        .cmd(BINARIES[0])
        .args(["--color", "never"])
        .env("CLICOLOR_FORCE", "1"));
    assert_eq!(never.code, 1);
    assert!(!never.stdout.contains(esc), "{never:?}");

    // auto: stdout is a pipe here, so colour only when forced.
    let auto = repo.precommit(&["--color", "auto"]);
    assert!(!auto.stdout.contains(esc), "{auto:?}");
    // The support's scrub sets NO_COLOR for every run; this case is about CLICOLOR_FORCE alone.
    let forced = run(repo
        .cmd(BINARIES[0])
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1"));
    assert!(forced.stdout.contains(esc), "{forced:?}");
    let opted_out = run(repo
        .cmd(BINARIES[0])
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1"));
    assert!(!opted_out.stdout.contains(esc), "{opted_out:?}");

    // Files never get colour.
    let file = repo.tmp.path().join("report.txt");
    let to_file = repo.precommit(&[
        "--color".to_string(),
        "always".to_string(),
        format!("--output=text={}", file.display()),
    ]);
    assert_eq!(to_file.code, 1);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("error[G001]") && !text.contains(esc),
        "{text}"
    );
}

#[test]
fn explain_prints_the_catalogue_entry_on_every_binary() {
    let rule = gate_report_rule("G001");
    for bin in BINARIES {
        let out = run(Command::new(bin).args(["explain", "g001"]));
        assert_eq!(out.code, 0, "{bin}: {out:?}");
        assert!(out.stdout.starts_with("G001 (error): "), "{bin}: {out:?}");
        assert!(out.stdout.contains(rule.0), "{bin}: {out:?}");
        assert!(out.stdout.contains(rule.1), "{bin}: {out:?}");
    }
}

/// The catalogue's name and the start of its fix text for `code` (crates/report/src/rules.rs).
fn gate_report_rule(code: &str) -> (&'static str, &'static str) {
    match code {
        "G001" => (
            "unregistered-emergency-script",
            "Turn it into a migration, or register it for approval",
        ),
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn explain_of_an_unknown_code_is_exit_2_with_close_matches() {
    for bin in BINARIES {
        let out = run(Command::new(bin).args(["explain", "G01"]));
        assert_eq!(out.code, 2, "{bin}: {out:?}");
        assert!(out.stdout.is_empty(), "{bin}: {out:?}");
        assert!(out.stderr.contains("unknown rule code `G01`"), "{out:?}");
        assert!(out.stderr.contains("G001"), "{out:?}");
    }
    let out = run(Command::new(BINARIES[0]).args(["explain", "Q123"]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("known codes: G001"), "{out:?}");
}

#[test]
fn completions_for_bash_are_accepted_by_bash() {
    for bin in BINARIES {
        let out = run(Command::new(bin).args(["completions", "bash"]));
        assert_eq!(out.code, 0, "{bin}: {out:?}");
        let name = std::path::Path::new(bin)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            out.stdout
                .contains(&format!("complete -F _{}", name.replace('-', "__")))
                || out.stdout.contains(name),
            "{bin}: {out:?}"
        );
        // The flags every gate shares are offered.
        for flag in ["--output", "--quiet", "--color", "explain"] {
            assert!(out.stdout.contains(flag), "{bin}: {flag} missing");
        }
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), &out.stdout).unwrap();
        let check = run(Command::new("bash").arg("-n").arg(script.path()));
        assert_eq!(check.code, 0, "bash -n rejects the script: {check:?}");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = run(Command::new(BINARIES[0]).args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}: {out:?}");
        assert!(out.stdout.contains("gate-precommit"), "{shell}: {out:?}");
    }
    let out = run(Command::new(BINARIES[0]).args(["completions", "tcsh"]));
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn help_lists_output_the_way_the_action_detects_it() {
    // ci/action/run.sh: grep -qE '^[[:space:]]+(-[a-zA-Z], )?--output[ =]'
    let detect = regex::Regex::new(r"(?m)^[[:space:]]+(-[a-zA-Z], )?--output[ =]").unwrap();
    for bin in BINARIES {
        let out = run(Command::new(bin).arg("--help"));
        assert_eq!(out.code, 0, "{bin}: {out:?}");
        assert!(detect.is_match(&out.stdout), "{bin}: {}", out.stdout);
    }
}
