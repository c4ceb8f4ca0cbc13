//! Golden files: every format for every representative report, byte for byte.
//!
//! `BLESS=1 cargo test -p gate-report --test golden` rewrites the files in tests/golden/;
//! review the diff before committing. Otherwise a mismatch fails with a line diff.

mod common;

use std::path::PathBuf;

use gate_report::{Format, RenderOptions, Report, render_with};

fn extension(format: Format) -> &'static str {
    match format {
        Format::Text => "txt",
        Format::Json => "json",
        Format::Markdown => "md",
        Format::Github => "github",
        Format::Sarif => "sarif",
        Format::Junit => "xml",
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn rendered(report: &Report, format: Format, options: RenderOptions) -> String {
    let mut out = Vec::new();
    render_with(report, format, &mut out, &options).expect("rendering to memory cannot fail");
    String::from_utf8(out).expect("renderers write UTF-8")
}

/// Compare with (or, under BLESS=1, write) one golden file; return a diff on mismatch.
fn check(file: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(file);
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            return Some(format!(
                "{}: cannot read golden file ({e}); run `BLESS=1 cargo test -p gate-report --test golden` to create it",
                path.display()
            ));
        }
    };
    (expected != actual).then(|| {
        format!(
            "{} differs from the rendered output (- golden, + actual); if the change is intended, rerun with BLESS=1\n{}",
            path.display(),
            line_diff(&expected, actual)
        )
    })
}

/// A minimal LCS line diff: enough to see what changed without another dependency.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = actual.split_inclusive('\n').collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let show = |s: &str| format!("{:?}", s.trim_end_matches('\n'));
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", show(a[i])));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", show(a[i])));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", show(b[j])));
            j += 1;
        }
    }
    out
}

fn check_format(format: Format) {
    let failures: Vec<String> = common::all()
        .iter()
        .filter_map(|(name, report)| {
            let actual = rendered(report, format, RenderOptions::plain());
            check(&format!("{name}.{}", extension(format)), &actual)
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn text_matches_golden() {
    check_format(Format::Text);
}

#[test]
fn text_in_colour_matches_golden() {
    let failures: Vec<String> = [("mixed", common::mixed()), ("empty", common::empty())]
        .iter()
        .filter_map(|(name, report)| {
            let actual = rendered(report, Format::Text, RenderOptions::plain().color(true));
            check(&format!("{name}.color.txt"), &actual)
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn json_matches_golden() {
    check_format(Format::Json);
}

#[test]
fn markdown_matches_golden() {
    check_format(Format::Markdown);
}

#[test]
fn github_matches_golden() {
    check_format(Format::Github);
}

#[test]
fn sarif_matches_golden() {
    check_format(Format::Sarif);
}

#[test]
fn junit_matches_golden() {
    check_format(Format::Junit);
}

#[test]
fn line_diff_marks_changed_lines() {
    let d = line_diff("a\nb\nc\n", "a\nB\nc\n");
    assert_eq!(d, "  \"a\"\n- \"b\"\n+ \"B\"\n  \"c\"\n");
}
