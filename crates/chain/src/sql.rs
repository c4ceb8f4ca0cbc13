//! SQL migration folders: file-name conventions of golang-migrate, flyway, sqlx, dbmate, and
//! plain lexical order.

mod naming;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::LazyLock;

use gate_policy::SqlNaming;
use gate_report::{Code, Finding};
use regex::Regex;

use crate::graph::{ChainKind, Revision, RevisionGraph, SqlMigration};
use naming::{FLYWAY_R, VersionKey, recorded_version, versioned};

// dbmate's block directives, exactly as `pkg/dbmate/migration.go` matches them.
static DBMATE_UP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^--\s*migrate:up(\s*$|\s+\S+)").expect("static regex"));
static DBMATE_DOWN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^--\s*migrate:down(\s*$|\s+\S+)").expect("static regex"));
// Why a migration must run outside a transaction: it says so (our directive, or a
// dbmate block option), or it holds a statement PostgreSQL refuses inside one.
static NO_TX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^\s*--\s*(gate:no-transaction\b|migrate:(up|down)\b.*\btransaction:false\b)|\bCONCURRENTLY\b|^\s*VACUUM\b|^\s*(CREATE|DROP)\s+DATABASE\b",
    )
    .expect("static regex")
});

fn no_transaction(naming: SqlNaming, text: &str) -> bool {
    // sqlx's own marker: the file's first line.
    (naming == SqlNaming::Sqlx && text.trim_start().starts_with("-- no-transaction"))
        || NO_TX.is_match(text)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The text of a SQL migration as it is applied: a leading UTF-8 BOM dropped, other
/// encodings decoded lossily (they still get a chain). Offsets such as
/// [`SqlMigration::up_sql_at`] index this text.
pub fn source_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

#[derive(Debug, Default)]
struct Slot {
    up: Vec<String>,
    down: Vec<String>,
    description: String,
    version: String,
}

/// Build the graph of a SQL folder. `files` holds repository-relative paths (already limited
/// to the migrations folder) and contents.
pub fn discover_sql(naming: SqlNaming, files: &BTreeMap<String, Vec<u8>>) -> RevisionGraph {
    let kind = match naming {
        SqlNaming::GolangMigrate => ChainKind::GolangMigrate,
        SqlNaming::Flyway => ChainKind::Flyway,
        SqlNaming::Sqlx => ChainKind::Sqlx,
        SqlNaming::Dbmate => ChainKind::Dbmate,
        SqlNaming::Plain => ChainKind::Plain,
    };
    let (slots, repeatable) = group(naming, files);
    let mut problems = Vec::new();
    let mut revisions: Vec<Revision> = Vec::new();
    for slot in slots {
        let Some(up) = slot.up.first().cloned() else {
            // A down/undo file without its up file: nothing to apply.
            problems.extend(orphaned_downs(&slot));
            continue;
        };
        problems.extend(duplicate_versions(&slot));
        match migration(naming, slot, &up, files) {
            Ok(m) => {
                // Each migration's parent is the one before it: SQL chains are linear.
                let parents = revisions.last().map(|r| r.id.clone()).into_iter().collect();
                revisions.push(revision(m, parents));
            }
            Err(problem) => problems.push(problem),
        }
    }
    let mut graph = RevisionGraph::new(kind, revisions);
    graph.repeatable = repeatable;
    graph.problems = problems;
    graph
}

/// The files of the folder grouped into the migrations they make, in the order they apply,
/// and Flyway's repeatables (which run after them, ordered by description).
fn group(naming: SqlNaming, files: &BTreeMap<String, Vec<u8>>) -> (Vec<Slot>, Vec<SqlMigration>) {
    let mut repeatable = Vec::new();
    // Version key -> the files that claim it.
    let mut slots: BTreeMap<Vec<u128>, Slot> = BTreeMap::new();
    // plain: file stem -> its up file and its optional `.down.sql`.
    let mut plain: BTreeMap<String, Slot> = BTreeMap::new();
    for path in files.keys() {
        let name = file_name(path);
        if !name.ends_with(".sql") {
            continue;
        }
        if naming == SqlNaming::Plain {
            add_plain(&mut plain, name, path);
            continue;
        }
        if naming == SqlNaming::Flyway
            && let Some(c) = FLYWAY_R.captures(name)
        {
            let t = source_text(&files[path]);
            repeatable.push(SqlMigration {
                version: String::new(),
                recorded_version: String::new(),
                description: c[1].to_string(),
                up: path.clone(),
                down: None,
                up_sql: None,
                down_sql: None,
                up_sql_at: 0,
                down_sql_at: 0,
                no_transaction: no_transaction(naming, &t),
                down_no_transaction: false,
            });
            continue;
        }
        let Some((version, desc, is_down)) = versioned(naming, name) else {
            continue;
        };
        let slot = slots.entry(VersionKey::parse(&version).0).or_default();
        // The up file names the migration; a down file only until its up file is seen.
        if slot.version.is_empty() || !is_down {
            slot.version = version;
            slot.description = desc;
        }
        if is_down {
            slot.down.push(path.clone());
        } else {
            slot.up.push(path.clone());
        }
    }
    repeatable.sort_by(|a, b| a.description.cmp(&b.description));
    let ordered: Vec<Slot> = if naming == SqlNaming::Plain {
        // Lexical order of the up files' paths (byte order, as the folder listing sorts).
        let mut v: Vec<Slot> = plain.into_values().collect();
        v.sort_by(|a, b| {
            let first = |s: &Slot| s.up.first().or(s.down.first()).cloned();
            first(a).cmp(&first(b))
        });
        v
    } else {
        slots.into_values().collect()
    };
    (ordered, repeatable)
}

/// `x.sql` or `x.up.sql` upgrades; `x.down.sql` is its rollback, never a migration of its own.
fn add_plain(plain: &mut BTreeMap<String, Slot>, name: &str, path: &str) {
    let (stem, is_down) = match name.strip_suffix(".down.sql") {
        Some(stem) => (stem, true),
        None => (
            name.strip_suffix(".up.sql")
                .or_else(|| name.strip_suffix(".sql"))
                .unwrap_or(name),
            false,
        ),
    };
    let slot = plain.entry(stem.to_string()).or_default();
    slot.version = stem.to_string();
    slot.description = stem.to_string();
    if is_down {
        slot.down.push(path.to_string());
    } else {
        slot.up.push(path.to_string());
    }
}

/// C005 for each down/undo file of a version that has no up file.
fn orphaned_downs(slot: &Slot) -> Vec<Finding> {
    slot.down
        .iter()
        .map(|d| {
            Finding::new(
                Code::C005,
                format!(
                    "`{d}` is a down/undo migration for version {} but no up migration has that version",
                    slot.version
                ),
            )
            .at(d.clone())
            .help("Add the matching up migration, or delete the orphaned down file.")
        })
        .collect()
}

/// C001 for every file of a version after the first up and the first down file.
fn duplicate_versions(slot: &Slot) -> Vec<Finding> {
    if slot.up.len() <= 1 && slot.down.len() <= 1 {
        return Vec::new();
    }
    let all: Vec<&String> = slot.up.iter().chain(slot.down.iter()).collect();
    slot.up
        .iter()
        .skip(1)
        .chain(slot.down.iter().skip(1))
        .map(|p| {
            Finding::new(
                Code::C001,
                format!(
                    "version {} is used by more than one migration: {}",
                    slot.version,
                    all.iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .at(p.clone())
            .line(1)
            .help("Renumber one of them to a version after the current last migration.")
        })
        .collect()
}

/// The migration a version makes from its first up file (C001 names the others) and its first
/// down file. A dbmate file that breaks dbmate's rules makes none: that is C005.
fn migration(
    naming: SqlNaming,
    slot: Slot,
    up: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<SqlMigration, Finding> {
    let t = source_text(&files[up]);
    let down = slot.down.first().cloned();
    let down_no_transaction = down
        .as_ref()
        .is_some_and(|d| no_transaction(naming, &source_text(&files[d])));
    let mut m = SqlMigration {
        recorded_version: recorded_version(naming, &slot.version),
        version: slot.version,
        description: slot.description,
        up: up.to_string(),
        down,
        up_sql: None,
        down_sql: None,
        up_sql_at: 0,
        down_sql_at: 0,
        no_transaction: no_transaction(naming, &t),
        down_no_transaction,
    };
    if naming != SqlNaming::Dbmate {
        return Ok(m);
    }
    match dbmate_sections(&t) {
        Ok((u, d)) => {
            m.down = Some(up.to_string());
            // Comments before the up block belong to it (a `gate:no-transaction` there
            // counts); each block has its own `transaction:false`.
            m.no_transaction = no_transaction(naming, &t[..u.end]);
            m.down_no_transaction = no_transaction(naming, &t[d.clone()]);
            m.up_sql_at = u.start;
            m.down_sql_at = d.start;
            m.up_sql = Some(t[u].to_string());
            m.down_sql = Some(t[d].to_string());
            Ok(m)
        }
        Err((line, msg)) => Err(Finding::new(Code::C005, format!("`{up}`: {msg}"))
            .at(up.to_string())
            .line(line)
            .help("Start the file with `-- migrate:up`, and put `-- migrate:down` after it, as dbmate requires.")),
    }
}

fn revision(m: SqlMigration, parents: Vec<String>) -> Revision {
    Revision {
        id: m.version.clone(),
        parents,
        depends_on: Vec::new(),
        depends_on_symbolic: Vec::new(),
        branch_labels: Vec::new(),
        path: m.up.clone(),
        line: 1,
        parents_line: None,
        depends_on_line: None,
        branch_labels_line: None,
        sql: Some(m),
    }
}

fn line_of(text: &str, offset: usize) -> u32 {
    let n = text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    u32::try_from(n + 1).unwrap_or(u32::MAX)
}

/// Split a dbmate file into its up and down sections (byte ranges of `text`, each starting
/// at its directive line), with dbmate's rules: both directives required, up before down,
/// nothing but comments and blank lines before up.
pub fn dbmate_sections(text: &str) -> Result<(Range<usize>, Range<usize>), (u32, String)> {
    let up = DBMATE_UP.find(text).map(|m| m.start());
    let down = DBMATE_DOWN.find(text).map(|m| m.start());
    let Some(up) = up else {
        return Err((1, "no `-- migrate:up` block; dbmate requires one".into()));
    };
    let Some(down) = down else {
        return Err((1, "no `-- migrate:down` block; dbmate requires one".into()));
    };
    if up > down {
        return Err((
            line_of(text, down),
            "`-- migrate:down` comes before `-- migrate:up`".into(),
        ));
    }
    for (i, l) in text[..up].split('\n').enumerate() {
        let t = l.trim();
        if !t.is_empty() && !t.starts_with("--") {
            return Err((
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                "statements before `-- migrate:up`; dbmate refuses them".into(),
            ));
        }
    }
    Ok((up..down, down..text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        names
            .iter()
            .map(|(n, c)| (format!("db/{n}"), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn flyway_versions_compare_numerically() {
        let f = files(&[
            ("V1_10__c.sql", ""),
            ("V1.2__b.sql", ""),
            ("V1__a.sql", ""),
            ("U1.2__b.sql", ""),
            ("R__views.sql", "-- gate:no-transaction\n"),
        ]);
        let g = discover_sql(SqlNaming::Flyway, &f);
        let ids: Vec<&str> = g.order().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "1.2", "1_10"]);
        assert_eq!(
            g.get("1.2").unwrap().sql.as_ref().unwrap().down.as_deref(),
            Some("db/U1.2__b.sql")
        );
        assert_eq!(g.get("1.2").unwrap().parents, ["1"]);
        assert_eq!(g.repeatable.len(), 1);
        assert!(g.repeatable[0].no_transaction);
        assert!(g.problems.is_empty());
    }

    #[test]
    fn duplicate_versions_are_c001() {
        let f = files(&[("1_a.up.sql", ""), ("001_b.up.sql", ""), ("2_c.up.sql", "")]);
        let g = discover_sql(SqlNaming::GolangMigrate, &f);
        assert_eq!(g.problems.len(), 1);
        assert_eq!(g.problems[0].code, "C001");
        let f = files(&[("V1__a.sql", ""), ("V1.0__b.sql", "")]);
        assert_eq!(discover_sql(SqlNaming::Flyway, &f).problems[0].code, "C001");
    }

    #[test]
    fn golang_and_sqlx_pairs() {
        let f = files(&[
            ("2_b.up.sql", "-- migrate:up transaction:false\n"),
            ("1_a.up.sql", ""),
            ("1_a.down.sql", ""),
            ("10_c.up.sql", ""),
        ]);
        let g = discover_sql(SqlNaming::GolangMigrate, &f);
        let ids: Vec<&str> = g.order().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "10"]);
        assert_eq!(
            g.get("1").unwrap().sql.as_ref().unwrap().down.as_deref(),
            Some("db/1_a.down.sql")
        );
        assert!(g.get("2").unwrap().sql.as_ref().unwrap().no_transaction);
        let f = files(&[
            ("20240101_a.sql", ""),
            ("20240102_b.up.sql", ""),
            ("20240102_b.down.sql", ""),
        ]);
        let g = discover_sql(SqlNaming::Sqlx, &f);
        assert_eq!(g.len(), 2);
        assert!(g.problems.is_empty(), "{:?}", g.problems);
    }

    #[test]
    fn dbmate_sections_follow_dbmate() {
        let ok =
            "-- a comment\n\n-- migrate:up\ncreate table t();\n-- migrate:down\ndrop table t;\n";
        let (u, d) = dbmate_sections(ok).unwrap();
        assert!(ok[u.clone()].starts_with("-- migrate:up") && ok[u].contains("create table"));
        assert!(ok[d.clone()].starts_with("-- migrate:down") && ok[d].contains("drop table"));
        // `--migrate:up` without a space is recognised; `--  migrate:upgrade` is not a directive.
        assert!(dbmate_sections("--migrate:up\nx;\n-- migrate:down\n").is_ok());
        assert!(dbmate_sections("-- migrate:upgrade\n-- migrate:down\n").is_err());
        assert_eq!(
            dbmate_sections("create table x();\n-- migrate:up\n-- migrate:down\n")
                .unwrap_err()
                .0,
            1
        );
        assert_eq!(
            dbmate_sections("-- migrate:down\n-- migrate:up\n")
                .unwrap_err()
                .0,
            1
        );
        let f = files(&[("20200101_x.sql", "select 1;\n"), ("20200102_y.sql", ok)]);
        let g = discover_sql(SqlNaming::Dbmate, &f);
        assert_eq!(g.problems.len(), 1);
        assert_eq!(g.problems[0].code, "C005");
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn dbmate_blocks_carry_their_offsets_and_transaction_options() {
        let text = "-- migrate:up\nCREATE TABLE a (x int); -- not -- migrate:down here\n-- migrate:down transaction:false\nDROP TABLE a;\n";
        let f = files(&[("20240101_a.sql", text)]);
        let g = discover_sql(SqlNaming::Dbmate, &f);
        let m = g.get("20240101").unwrap().sql.clone().unwrap();
        let up = m.up_sql.unwrap();
        let down = m.down_sql.unwrap();
        assert!(up.contains("not -- migrate:down here"), "{up}");
        assert_eq!(&text[m.up_sql_at..m.up_sql_at + up.len()], up);
        assert_eq!(&text[m.down_sql_at..m.down_sql_at + down.len()], down);
        assert!(down.ends_with("DROP TABLE a;\n"));
        // `transaction:false` on the down block concerns the down block only.
        assert!(!m.no_transaction);
        assert!(m.down_no_transaction);
        assert_eq!(m.down.as_deref(), Some("db/20240101_a.sql"));
    }

    #[test]
    fn statements_postgres_refuses_in_a_transaction_are_no_transaction() {
        let f = files(&[
            ("1_a.up.sql", "CREATE INDEX CONCURRENTLY i ON t (x);\n"),
            ("1_a.down.sql", "drop index concurrently i;\n"),
            ("2_b.up.sql", "CREATE INDEX i2 ON t (x);\n"),
            ("2_b.down.sql", "DROP INDEX i2;\n"),
            (
                "3_c.up.sql",
                "  -- gate:no-transaction\nALTER TYPE e ADD VALUE 'x';\n",
            ),
        ]);
        let g = discover_sql(SqlNaming::GolangMigrate, &f);
        let m = |id: &str| g.get(id).unwrap().sql.clone().unwrap();
        assert!(m("1").no_transaction && m("1").down_no_transaction);
        assert!(!m("2").no_transaction && !m("2").down_no_transaction);
        assert!(m("3").no_transaction);
        // sqlx's marker counts for sqlx only, and only at the top of the file.
        let marked = "-- no-transaction\nCREATE INDEX i ON t (x);\n";
        let f = files(&[
            ("1_a.sql", marked),
            ("2_b.sql", "SELECT 1;\n-- no-transaction\n"),
        ]);
        let g = discover_sql(SqlNaming::Sqlx, &f);
        assert!(g.get("1").unwrap().sql.as_ref().unwrap().no_transaction);
        assert!(!g.get("2").unwrap().sql.as_ref().unwrap().no_transaction);
        let f = files(&[("1_a.up.sql", marked)]);
        let g = discover_sql(SqlNaming::GolangMigrate, &f);
        assert!(!g.get("1").unwrap().sql.as_ref().unwrap().no_transaction);
    }

    #[test]
    fn recorded_versions_follow_each_tool() {
        let g = discover_sql(SqlNaming::GolangMigrate, &files(&[("000010_a.up.sql", "")]));
        assert_eq!(
            g.get("000010")
                .unwrap()
                .sql
                .as_ref()
                .unwrap()
                .recorded_version,
            "10"
        );
        let g = discover_sql(SqlNaming::Flyway, &files(&[("V1_2__a.sql", "")]));
        assert_eq!(
            g.get("1_2").unwrap().sql.as_ref().unwrap().recorded_version,
            "1.2"
        );
        let g = discover_sql(
            SqlNaming::Dbmate,
            &files(&[("0042_a.sql", "-- migrate:up\n-- migrate:down\n")]),
        );
        assert_eq!(
            g.get("0042")
                .unwrap()
                .sql
                .as_ref()
                .unwrap()
                .recorded_version,
            "0042"
        );
    }

    #[test]
    fn plain_is_lexical() {
        let f = files(&[("b.sql", ""), ("a.sql", ""), ("readme.md", "")]);
        let g = discover_sql(SqlNaming::Plain, &f);
        let ids: Vec<&str> = g.order().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn plain_down_files_are_rollbacks_not_migrations() {
        let f = files(&[
            ("a.up.sql", ""),
            ("a.down.sql", ""),
            ("b.sql", ""),
            ("b.down.sql", ""),
            ("c.sql", ""),
            ("z.down.sql", ""),
        ]);
        let g = discover_sql(SqlNaming::Plain, &f);
        let ids: Vec<&str> = g.order().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let down = |id: &str| g.get(id).unwrap().sql.as_ref().unwrap().down.clone();
        assert_eq!(down("a").as_deref(), Some("db/a.down.sql"));
        assert_eq!(down("b").as_deref(), Some("db/b.down.sql"));
        assert_eq!(down("c"), None);
        // A rollback without its migration is C005; the same stem twice is C001.
        assert_eq!(g.problems.len(), 1, "{:?}", g.problems);
        assert_eq!(g.problems[0].code, "C005");
        let f = files(&[("a.sql", ""), ("a.up.sql", "")]);
        assert_eq!(discover_sql(SqlNaming::Plain, &f).problems[0].code, "C001");
    }
}
