//! Golden files: every format for every representative report, byte for byte, as insta
//! snapshots in tests/report/snapshots/. After an intended change, `cargo insta test -p gate-report
//! --test report --review -- golden::` (or `INSTA_UPDATE=always cargo test ...`, then review the diff);
//! see tests/README.md. In CI (`CI=true`) a mismatch fails and nothing is written.

use crate::common;
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

fn rendered(report: &Report, format: Format, options: RenderOptions) -> String {
    let mut out = Vec::new();
    render_with(report, format, &mut out, &options).expect("rendering to memory cannot fail");
    String::from_utf8(out).expect("renderers write UTF-8")
}

/// The newlines a rendering of `format` ends with: insta trims trailing newlines when it
/// compares, so they are pinned here to keep the comparison byte for byte. Markdown ends with a
/// blank line (another document may be appended), every other format with one newline.
fn trailing_newlines(format: Format) -> usize {
    match format {
        Format::Markdown => 2,
        _ => 1,
    }
}

/// Compare `actual` with the snapshot `snapshots/{file}.snap`; the end of the output and the
/// line endings (which insta normalises) are checked exactly here.
fn check(file: &str, actual: &str, format: Format) {
    let ends = actual.len() - actual.trim_end_matches('\n').len();
    assert_eq!(
        ends,
        trailing_newlines(format),
        "{file}: the output must end with exactly {} newline(s):\n{actual:?}",
        trailing_newlines(format)
    );
    assert!(
        !actual.contains('\r'),
        "{file}: carriage return in {actual:?}"
    );
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(file, actual);
    });
}

fn check_format(format: Format) {
    for (name, report) in common::all() {
        let actual = rendered(&report, format, RenderOptions::plain());
        check(&format!("{name}.{}", extension(format)), &actual, format);
    }
}

#[test]
fn text_matches_golden() {
    check_format(Format::Text);
}

#[test]
fn text_in_colour_matches_golden() {
    for (name, report) in [("mixed", common::mixed()), ("empty", common::empty())] {
        let actual = rendered(&report, Format::Text, RenderOptions::plain().color(true));
        check(&format!("{name}.color.txt"), &actual, Format::Text);
    }
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
