//! Arbitrary policy text yields a policy or located diagnostics, never a panic.

use std::path::Path;

use gate_policy::{PolicyError, parse};
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "version",
    "kind",
    "path",
    "max-heads",
    "scope",
    "names",
    "ignore",
    "approvers",
    "ticket",
    "approved-on",
    "status",
    "sha256",
    "backend",
    "timeout-s",
    "bogus",
];
const VALUES: &[&str] = &[
    "1",
    "0",
    "-3",
    "\"x\"",
    "'(unclosed'",
    "\"../up\"",
    "\"/abs\"",
    "[]",
    "[1, \"a\"]",
    "2025-09-20",
    "\"2025-02-30\"",
    "true",
    "1.5",
    "{ a = 1 }",
    "\"[bad\"",
];
const HEADERS: &[&str] = &[
    "",
    "[migrations]",
    "[emergency]",
    "[[emergency.script]]",
    "[governance]",
    "[replay]",
    "[emergency.script]",
    "[unknown]",
];

fn check(text: &str) {
    match parse(text, Path::new("p.toml"), Path::new("/nonexistent-repo")) {
        Ok(_) => {}
        Err(PolicyError::Invalid {
            diagnostics,
            rendered,
        }) => {
            assert!(!diagnostics.is_empty());
            let lines = text.lines().count().max(1) as u32 + 1;
            for d in &diagnostics {
                if let Some(l) = d.line {
                    assert!(l >= 1 && l <= lines, "line {l} outside the text: {d}");
                }
                assert!(rendered.contains(&d.message.split("; ").next().unwrap().to_string()));
            }
        }
        Err(e) => panic!("unexpected error kind {e:?}"),
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn policy_shaped_text_never_panics(
        lines in prop::collection::vec(
            (0..HEADERS.len(), 0..KEYS.len(), 0..VALUES.len()), 0..12)
    ) {
        let mut text = String::new();
        for (h, k, v) in lines {
            if !HEADERS[h].is_empty() {
                text.push_str(HEADERS[h]);
                text.push('\n');
            }
            text.push_str(&format!("{} = {}\n", KEYS[k], VALUES[v]));
        }
        check(&text);
    }
}
