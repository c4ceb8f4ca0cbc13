//! Golden tests: one bad policy per fixture under `tests/fixtures/invalid/`, with the expected
//! diagnostics (file:line:col list, then the rendered excerpts) as an insta snapshot,
//! `tests/policy/snapshots/diagnostics@NAME.toml.snap`. After an intended wording change run
//! `cargo insta test -p gate-policy --test policy --review -- diagnostics::` and review the diff (see
//! tests/README.md at the repository root).

use std::path::{Path, PathBuf};

use gate_policy::{Diagnostic, PolicyError, parse};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid")
}

/// Parse a fixture that must be rejected; returns its diagnostics and rendered text.
fn reject(name: &str) -> (Vec<Diagnostic>, String) {
    let dir = fixtures();
    let text = std::fs::read_to_string(dir.join(name)).expect("fixture exists");
    // The display name is relative so goldens do not depend on where the tree is checked out.
    let shown = Path::new("invalid").join(name);
    match parse(&text, &shown, &dir) {
        Ok(p) => panic!("{name} must be rejected, but loaded: {p:?}"),
        Err(PolicyError::Invalid {
            diagnostics,
            rendered,
        }) => (diagnostics, rendered),
        Err(e) => panic!("{name}: expected PolicyError::Invalid, got {e:?}"),
    }
}

fn golden_text(diags: &[Diagnostic], rendered: &str) -> String {
    let mut s = String::new();
    for d in diags {
        s.push_str(&d.to_string());
        s.push('\n');
    }
    s.push_str("---- rendered ----\n");
    s.push_str(rendered);
    s.push('\n');
    s
}

#[test]
fn every_invalid_fixture_matches_its_golden() {
    let fixtures_count = std::fs::read_dir(fixtures())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".toml")
        })
        .count();
    assert!(fixtures_count >= 10, "fixtures missing: {fixtures_count}");
    // One snapshot per fixture; insta reports every failing fixture, then fails.
    insta::glob!("../fixtures/invalid", "*.toml", |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (diags, rendered) = reject(&name);
        assert!(!diags.is_empty(), "{name}: no diagnostics");
        assert!(
            !rendered.contains('\u{1b}'),
            "{name}: rendered output must not contain colour escapes"
        );
        let got = golden_text(&diags, &rendered);
        // insta trims trailing newlines when it compares; the text ends with exactly one.
        assert!(
            got.ends_with('\n') && !got.ends_with("\n\n") && !got.contains('\r'),
            "{name}: {got:?}"
        );
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("diagnostics", got);
        });
    });
}

fn locs(diags: &[Diagnostic]) -> Vec<(u32, u32)> {
    diags
        .iter()
        .map(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)))
        .collect()
}

// The goldens could be blessed wrong; these pin the essentials independently.

#[test]
fn all_unknown_keys_are_reported_at_once_with_suggestions() {
    let (d, _) = reject("unknown_keys.toml");
    assert_eq!(
        locs(&d),
        vec![(2, 1), (6, 1), (7, 1), (10, 1), (14, 1), (15, 1), (17, 2)]
    );
    assert!(d[0].message.contains("did you mean `version`"), "{}", d[0]);
    assert!(
        d[1].message
            .contains("`max_heads` in [migrations]; did you mean `max-heads`")
    );
    assert!(d[2].message.contains("did you mean `lockfile`"));
    assert!(d[3].message.contains("did you mean `scope`"));
    assert!(d[4].message.contains("did you mean `approved-by`"));
    assert!(
        d[5].message
            .contains("unknown key `frobnicate` in [[emergency.script]]")
    );
    assert!(
        d[5].message
            .contains("valid keys in [[emergency.script]]: path, sha256")
    );
    assert!(d[6].message.contains("did you mean `governance`"));
}

#[test]
fn wrong_types_name_expected_and_found() {
    let (d, _) = reject("wrong_types.toml");
    let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(d.len(), 10, "{msgs:#?}");
    assert_eq!(
        d[0].message,
        "`version`: expected an integer, found a string"
    );
    assert_eq!(locs(&d)[0], (1, 11));
    assert!(msgs.contains(&"`migrations.path`: expected a string, found an integer"));
    assert!(msgs.contains(&"`emergency.scope`: expected an array of strings, found a string"));
    assert!(msgs.contains(&"`emergency.names[]`: expected a string, found an integer"));
    assert!(msgs.contains(&"`governance.convert-within-days`: expected an integer, found a float"));
    assert!(msgs.contains(&"`replay.slow-ms` must be at least 0, found -1"));
}

#[test]
fn invalid_enum_values_list_the_valid_ones() {
    let (d, _) = reject("enums.toml");
    assert_eq!(locs(&d), vec![(4, 8), (5, 10), (8, 11), (12, 10)]);
    assert!(
        d[0].message
            .contains("expected one of `alembic`, `sql`, `command`; did you mean `alembic`?")
    );
    assert!(
        d[3].message
            .contains("`active`, `legacy`, `converted`, `retired`")
    );
}

#[test]
fn regex_and_glob_errors_name_the_key() {
    let (d, _) = reject("regexes_globs.toml");
    assert_eq!(locs(&d), vec![(4, 27), (4, 40), (5, 23), (8, 10)]);
    assert!(
        d[0].message
            .starts_with("invalid regex `(unclosed` in `emergency.names`: unclosed group")
    );
    assert!(
        d[2].message
            .starts_with("invalid glob `tests/[abc.py` in `emergency.ignore`")
    );
    assert!(d[3].message.contains("`governance.ticket`"));
}

#[test]
fn dates_must_be_real_calendar_dates() {
    let (d, _) = reject("dates.toml");
    assert_eq!(locs(&d), vec![(5, 15), (6, 14), (10, 15), (11, 14)]);
    assert!(
        d[0].message
            .contains("\"2025-02-30\" is not a calendar date")
    );
    assert!(d[1].message.contains("drop the time part"));
    assert!(
        d[3].message
            .contains("expected a date like 2025-09-20, found an integer")
    );
    // A TOML local date that does not exist is caught by the TOML parser itself.
    let (d, _) = reject("local_date_invalid.toml");
    assert_eq!(locs(&d), vec![(5, 15)]);
}

#[test]
fn duplicate_registry_path_points_at_the_second_and_names_the_first() {
    let (d, rendered) = reject("duplicates.toml");
    assert_eq!(locs(&d), vec![(11, 8)]);
    assert!(
        d[0].message
            .contains("`emergency_enum_fix.py` is registered twice; the first entry is at line 4")
    );
    assert!(rendered.contains("first registered here"));
}

#[test]
fn paths_must_stay_inside_the_repository() {
    let (d, _) = reject("escaping_paths.toml");
    assert_eq!(
        locs(&d),
        vec![
            (4, 8),
            (5, 10),
            (6, 12),
            (9, 15),
            (12, 8),
            (13, 7),
            (16, 12)
        ]
    );
    assert!(d.iter().all(|d| d.message.contains("repository")));
}

#[test]
fn version_and_limits() {
    let (d, _) = reject("version_heads.toml");
    assert_eq!(locs(&d), vec![(1, 11), (4, 13), (7, 13)]);
    assert!(d[0].message.contains("unsupported policy `version` 2"));
    assert!(
        d[1].message
            .contains("`migrations.max-heads` must be at least 1, found 0")
    );
}

#[test]
fn malformed_toml_reports_the_parser_position() {
    let (d, rendered) = reject("malformed.toml");
    assert_eq!(locs(&d), vec![(3, 12)]);
    assert!(d[0].message.starts_with("invalid TOML"));
    assert!(
        rendered.contains("invalid/malformed.toml:3:12"),
        "{rendered}"
    );
    assert!(
        rendered.contains("[migrations"),
        "excerpt missing: {rendered}"
    );
}

#[test]
fn registry_values_are_checked() {
    let (d, _) = reject("registry_values.toml");
    let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        locs(&d),
        vec![
            (4, 34),
            (4, 49),
            (4, 57),
            (5, 11),
            (9, 10),
            (10, 10),
            (12, 1),
            (14, 1),
            (16, 10)
        ],
        "{msgs:#?}"
    );
    assert!(msgs[0].contains("`Lead Person` is not an email address"));
    assert!(msgs[4].contains("64 hexadecimal characters, found 6"));
    assert!(msgs[5].contains("did you mean `active`?"));
    assert!(msgs[6].contains("both `run` and `sql`"));
    assert!(msgs[7].contains("has no `path`"));
    assert!(msgs[8].contains("non-hexadecimal"));
}

#[test]
fn empty_approvers_list_is_allowed_at_load() {
    let text = "version = 1\n[governance]\napprovers = []\n";
    let p = parse(text, Path::new("policy.toml"), Path::new(".")).unwrap();
    assert!(p.governance.approvers.is_empty());
}

#[test]
fn rendered_output_is_compiler_style_and_display_is_complete() {
    let dir = fixtures();
    let err = gate_policy::load(&dir.join("enums.toml"), &dir).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("error: invalid value `alembik` for `migrations.kind`"),
        "{shown}"
    );
    assert!(shown.contains("enums.toml:4:8"), "{shown}");
    assert!(shown.contains("kind = \"alembik\""), "{shown}");
    assert!(shown.contains("^^^^^^^^^"), "{shown}");
    assert!(
        shown
            .trim_end()
            .ends_with("has 4 problems; the policy was not loaded"),
        "{shown}"
    );
}
