//! The rule catalogue agrees with the design contract and feeds `--explain` and the README.

use std::collections::HashSet;
use std::path::PathBuf;

use gate_report::rules::{RULES, lookup};
use gate_report::{explain, rules_markdown_table};

/// Rule codes (`G001`, `A010`, ...) written in backticks in DESIGN.md's "Rule codes" section.
fn design_codes() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/DESIGN.md");
    let design = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the design contract at {} ({e}); the rule catalogue is checked against it",
            path.display()
        )
    });
    let start = design
        .find("## Rule codes")
        .expect("DESIGN.md has a `## Rule codes` section");
    let section = &design[start + 3..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split('`')
        .skip(1)
        .step_by(2) // the text between backtick pairs
        .filter(|t| {
            t.len() == 4
                && t.starts_with(['G', 'C', 'R', 'F', 'A'])
                && t[1..].chars().all(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_code_in_the_design_is_in_the_catalogue() {
    let codes = design_codes();
    // The section lists 4 G, 6 C, 6 R, 5 F and 11 A codes; fewer means the parse broke.
    assert!(codes.len() >= 32, "parsed only {codes:?} from DESIGN.md");
    let missing: Vec<&String> = codes.iter().filter(|c| lookup(c).is_none()).collect();
    assert!(
        missing.is_empty(),
        "DESIGN.md names codes that RULES lacks: {missing:?}"
    );
}

#[test]
fn codes_and_names_are_unique_and_complete() {
    let mut codes = HashSet::new();
    let mut names = HashSet::new();
    for r in RULES {
        assert!(codes.insert(r.code), "duplicate code {}", r.code);
        assert!(names.insert(r.name), "duplicate name {}", r.name);
        assert!(
            r.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{} is not kebab-case",
            r.name
        );
        for (field, text) in [("what", r.what), ("why", r.why), ("fix", r.fix)] {
            assert!(!text.trim().is_empty(), "{} has an empty {field}", r.code);
        }
    }
}

#[test]
fn explain_gives_what_why_and_fix() {
    let text = explain("G001").expect("G001 is a rule");
    let rule = lookup("G001").unwrap();
    assert!(text.starts_with("G001 (error): unregistered-emergency-script\n"));
    for part in [rule.what, rule.why, rule.fix] {
        assert!(text.contains(part), "explain lacks {part:?}:\n{text}");
    }
    assert_eq!(explain(" g001 "), Some(text), "codes are case-insensitive");
    assert_eq!(
        explain("R005").unwrap().lines().next(),
        Some("R005 (warning): slow-migration")
    );
    assert_eq!(explain("G999"), None);
    assert_eq!(explain(""), None);
}

#[test]
fn rules_table_has_a_row_per_rule() {
    let table = rules_markdown_table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "| Code | Severity | What | Why | How to fix |");
    assert_eq!(lines.len(), RULES.len() + 2);
    for (line, rule) in lines[2..].iter().zip(RULES) {
        assert!(line.starts_with(&format!(
            "| `{}` {} | {} |",
            rule.code,
            rule.name,
            rule.severity.as_str()
        )));
        // Five cells: six unescaped pipes.
        let pipes = line
            .match_indices('|')
            .filter(|(i, _)| !line[..*i].ends_with('\\'))
            .count();
        assert_eq!(pipes, 6, "{line}");
    }
}

#[test]
fn readme_embeds_the_current_rules_table() {
    assert_embeds_rules_table(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"));
}

#[test]
fn project_readme_embeds_the_current_rules_table() {
    assert_embeds_rules_table(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"));
}

fn assert_embeds_rules_table(path: PathBuf) {
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- rules-table:start -->\n", "<!-- rules-table:end -->");
    let a = readme
        .find(start)
        .expect("README has the rules-table:start marker")
        + start.len();
    let b = readme
        .find(end)
        .expect("README has the rules-table:end marker");
    let table = rules_markdown_table();
    if readme[a..b] == table {
        return;
    }
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{}{table}{}", &readme[..a], &readme[b..])).unwrap();
        return;
    }
    panic!(
        "{}: the rules table is out of date; run `BLESS=1 cargo test -p gate-report --test rules`",
        path.display()
    );
}
