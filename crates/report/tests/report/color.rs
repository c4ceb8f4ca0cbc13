//! Colour on a terminal only, and never when NO_COLOR is set: checked by re-running this test
//! binary as a child, once on a real pseudo-terminal (util-linux `script`) and once on a pipe.

use std::process::Command;

use gate_report::RenderOptions;

/// Not a check by itself: when the parent sets GATE_REPORT_COLOR_PROBE, print what
/// `for_stdout` decides for the stdout this process was given.
#[test]
// The probe's stdout is what the parent test reads.
#[allow(clippy::disallowed_macros)]
fn probe() {
    if std::env::var_os("GATE_REPORT_COLOR_PROBE").is_some() {
        println!("COLOR={}", RenderOptions::for_stdout().color);
    }
}

fn child(on_tty: bool, env: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let args = format!(
        "{} --exact color::probe --nocapture --test-threads=1",
        exe.display()
    );
    let mut cmd = if on_tty {
        let mut c = Command::new("script");
        // -q quiet, -e child's exit code, -c command; the typescript goes nowhere.
        c.args(["-qec", &args, "/dev/null"]);
        c
    } else {
        let mut c = Command::new(&exe);
        c.args(["--exact", "color::probe", "--nocapture", "--test-threads=1"]);
        c
    };
    cmd.env("GATE_REPORT_COLOR_PROBE", "1")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CI");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect(
        "util-linux `script` is needed to give the child a terminal (apt-get install bsdutils)",
    );
    assert!(out.status.success(), "child failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if stdout.contains("COLOR=true") {
        "true".into()
    } else if stdout.contains("COLOR=false") {
        "false".into()
    } else {
        panic!("the probe printed nothing: {stdout:?}")
    }
}

#[test]
fn colour_on_a_terminal() {
    assert_eq!(child(true, &[]), "true");
}

#[test]
fn no_colour_on_a_terminal_when_no_color_is_set() {
    assert_eq!(child(true, &[("NO_COLOR", "1")]), "false");
}

#[test]
fn no_colour_on_a_terminal_with_term_dumb() {
    assert_eq!(child(true, &[("TERM", "dumb")]), "false");
}

#[test]
fn no_colour_on_a_pipe() {
    assert_eq!(child(false, &[]), "false");
}

#[test]
fn plain_by_default() {
    assert!(!RenderOptions::plain().color);
    assert!(!RenderOptions::default().color);
}
