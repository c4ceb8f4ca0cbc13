//! The rule catalogue agrees with the design contract and feeds `explain` and the README.

use std::collections::HashSet;
use std::path::PathBuf;

use gate_report::rules::{RULES, lookup};
use gate_report::{explain, rules_markdown_table};

/// The contract's rule codes, as listed in the repository's own copy (`docs/rule-codes.md`):
/// (required, planned). A family such as `L0xx` stands for every code it covers.
fn listed_codes() -> (Vec<String>, Vec<String>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/rule-codes.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e})", path.display()));
    let section = |title: &str| -> Vec<String> {
        let start = text
            .find(&format!("\n## {title}\n"))
            .unwrap_or_else(|| panic!("docs/rule-codes.md has a `## {title}` section"));
        let body = &text[start + title.len() + 5..];
        let body = &body[..body.find("\n## ").unwrap_or(body.len())];
        body.lines()
            .filter_map(|l| l.strip_prefix("- `"))
            .filter_map(|l| l.split('`').next())
            .map(str::to_string)
            .collect()
    };
    (section("Required"), section("Planned"))
}

/// Whether `code` is `listed` or belongs to a listed family (`L0xx` covers `L001`).
fn covers(listed: &[String], code: &str) -> bool {
    listed.iter().any(|l| {
        l == code
            || (l.ends_with("xx")
                && code.len() == l.len()
                && code.starts_with(&l[..l.len() - 2])
                && code[l.len() - 2..].chars().all(|c| c.is_ascii_digit()))
    })
}

/// Codes (`G001`, `R010`, `L0xx`, ...) written in backticks anywhere in the contract.
fn contract_codes(design: &str) -> Vec<String> {
    let mut codes: Vec<String> = design
        .split('`')
        .skip(1)
        .step_by(2) // the text between backtick pairs
        .filter(|t| {
            t.len() == 4
                && t.starts_with(|c: char| c.is_ascii_uppercase())
                && (t[1..].chars().all(|c| c.is_ascii_digit())
                    || (t[1..2].chars().all(|c| c.is_ascii_digit()) && &t[2..] == "xx"))
        })
        .map(str::to_string)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn every_required_code_is_in_the_catalogue() {
    let (required, planned) = listed_codes();
    // The original contract lists 4 G, 6 C, 6 R, 5 F and 11 A codes; fewer means the parse broke.
    assert!(required.len() >= 32, "parsed only {required:?}");
    assert!(!planned.is_empty(), "parsed no planned codes");
    let missing: Vec<&String> = required.iter().filter(|c| lookup(c).is_none()).collect();
    assert!(
        missing.is_empty(),
        "docs/rule-codes.md requires codes that RULES lacks: {missing:?}"
    );
}

#[test]
fn every_catalogue_code_is_named_by_the_contract() {
    let (mut listed, planned) = listed_codes();
    listed.extend(planned);
    let unknown: Vec<&str> = RULES
        .iter()
        .map(|r| r.code.as_str())
        .filter(|c| !covers(&listed, c))
        .collect();
    assert!(
        unknown.is_empty(),
        "RULES has codes docs/rule-codes.md does not list: {unknown:?}; add them there (and to the contract)"
    );
}

/// The in-repository list must not drift from the contract. The contract lives beside the
/// repository (`../shared/DESIGN.md`), not in it: a plain clone has no copy, and then only
/// the checks above run.
#[test]
fn the_list_names_every_code_of_the_contract_when_it_is_present() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/DESIGN.md");
    let Ok(design) = std::fs::read_to_string(&path) else {
        return;
    };
    let codes = contract_codes(&design);
    assert!(
        codes.len() >= 32,
        "parsed only {codes:?} from {}",
        path.display()
    );
    let (mut listed, planned) = listed_codes();
    listed.extend(planned);
    // A family the contract names (`G0xx` heads the pre-commit codes) is listed when the
    // family itself or one of its codes is.
    let is_listed = |c: &String| {
        listed.contains(c)
            || (c.ends_with("xx") && listed.iter().any(|l| covers(std::slice::from_ref(c), l)))
    };
    let missing: Vec<&String> = codes.iter().filter(|c| !is_listed(c)).collect();
    assert!(
        missing.is_empty(),
        "{} names codes docs/rule-codes.md lacks: {missing:?}; list them under Planned (or Required once RULES has them)",
        path.display()
    );
}

#[test]
fn families_cover_only_their_codes() {
    let listed = vec!["L0xx".to_string(), "G001".to_string()];
    assert!(covers(&listed, "L001") && covers(&listed, "L042"));
    assert!(covers(&listed, "G001"));
    assert!(!covers(&listed, "L101") && !covers(&listed, "G002") && !covers(&listed, "L0"));
    assert_eq!(
        contract_codes("`G001`, `L0xx`, `R010` and `G001` again; not `foo`, `G1`, `Gxyz`"),
        ["G001", "L0xx", "R010"]
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
        "{}: the rules table is out of date; run `BLESS=1 cargo test -p gate-report --test report -- rules::`",
        path.display()
    );
}

/// docs/ARCHITECTURE.md takes a newcomer from a code to its function in one hop: every code
/// has a row, with the rule's name, and every `file` `function` it names exists.
#[test]
fn architecture_names_an_existing_function_for_every_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    for &code in gate_report::Code::ALL {
        let prefix = format!("| `{code}` | ");
        let row = doc
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("docs/ARCHITECTURE.md has no row for {code}"));
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 3, "{row}");
        assert_eq!(cells[1], code.name(), "{row}");
        let places: Vec<&str> = cells[2].split(';').map(str::trim).collect();
        assert!(!places.is_empty() && !places[0].is_empty(), "{row}");
        for place in places {
            let spans: Vec<&str> = place.split('`').skip(1).step_by(2).collect();
            let [file, function] = spans[..] else {
                panic!("{code}: `{place}` is not `file` `function`");
            };
            let source = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("{code}: cannot read {file} ({e})"));
            let defines = |s: &str| {
                s.lines().any(|l| {
                    let l = l.trim_start();
                    let l = l
                        .strip_prefix("pub(crate) ")
                        .or(l.strip_prefix("pub(super) "))
                        .or(l.strip_prefix("pub "))
                        .unwrap_or(l);
                    let l = l.strip_prefix("async ").unwrap_or(l);
                    l.strip_prefix("fn ")
                        .and_then(|rest| rest.strip_prefix(function))
                        .is_some_and(|rest| rest.starts_with(['(', '<']))
                })
            };
            assert!(defines(&source), "{code}: {file} defines no fn {function}");
        }
    }
}
