//! L0xx: what the observed statements (crate::observe) did to tables that hold rows, judged.
//! A pure function of the observation; tables created in the same transaction and tables
//! with no rows are never findings (nothing else can be waiting on them, nothing is scanned).
//!
//! One finding per statement and table, the most specific first: a rewrite (L002), a
//! constraint validated under the lock (L004), an index built without CONCURRENTLY (L003),
//! else ACCESS EXCLUSIVE kept across later statements of the transaction (L001).

use std::collections::BTreeMap;
use std::time::Duration;

use gate_report::{Code, Finding, Section, Severity};

use crate::observe::{Change, ObservedStatement};

const ACCESS_EXCLUSIVE: &str = "AccessExclusiveLock";

/// Lock modes that make writers of the table wait (SHARE and stronger).
const BLOCKS_WRITES: &[&str] = &[
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    ACCESS_EXCLUSIVE,
];

/// The L0xx findings of `observed`: warnings, errors under `--strict`.
pub fn findings(observed: &[ObservedStatement], strict: bool) -> Vec<Finding> {
    let severity = if strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut out = Vec::new();
    for (i, s) in observed.iter().enumerate() {
        let later = later_in_transaction(observed, i);
        // An index re-created on the storage of one the statement dropped (a type change
        // PostgreSQL does without a rewrite) was not built.
        let kept_storage: Vec<i64> = s
            .changes
            .iter()
            .filter_map(|c| c.before.as_ref().filter(|_| c.after.is_none()))
            .filter(|b| b.kind == "i")
            .map(|b| b.filenode)
            .collect();
        let mut judged: BTreeMap<&str, Judgement> = BTreeMap::new();
        for c in s.changes.iter().filter(|c| !c.new_in_transaction) {
            let table = c.row().table.as_str();
            if s.rows.get(table).copied().unwrap_or(0) == 0 {
                continue;
            }
            let held = held_earlier(observed, i, table);
            if let Some(j) = judge(s, c, &kept_storage, held) {
                let slot = judged.entry(table).or_insert(j.clone());
                if j.rank() < slot.rank() {
                    *slot = j;
                }
            }
        }
        for (table, j) in judged {
            if j.code == Code::L001 && later == 0 {
                // Taken and released with the statement: as short as the statement itself.
                continue;
            }
            out.push(finding(s, table, &j, later).severity(severity));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Judgement {
    code: Code,
    /// What was observed, e.g. "rewrote the table (relfilenode 16390 -> 16402)".
    what: String,
    help: String,
}

impl Judgement {
    fn rank(&self) -> usize {
        [Code::L002, Code::L004, Code::L003, Code::L001]
            .iter()
            .position(|c| *c == self.code)
            .unwrap_or(usize::MAX)
    }
}

fn judge(
    s: &ObservedStatement,
    c: &Change,
    kept_storage: &[i64],
    held: Option<(&str, Option<u32>)>,
) -> Option<Judgement> {
    let (before, after) = (c.before.as_ref(), c.after.as_ref()?);
    let upper = s.sql.to_ascii_uppercase();
    match after.kind.as_str() {
        "r" => {
            if let Some(b) = before
                && b.filenode != after.filenode
            {
                return Some(Judgement {
                    code: Code::L002,
                    what: format!(
                        "rewrote the table under ACCESS EXCLUSIVE (relfilenode {} -> {})",
                        b.filenode, after.filenode
                    ),
                    help: rewrite_help(&upper),
                });
            }
            let was = before.map_or("", |b| b.extra.as_str());
            (has_mode(&after.extra, ACCESS_EXCLUSIVE) && !has_mode(was, ACCESS_EXCLUSIVE)).then(
                || Judgement {
                    code: Code::L001,
                    what: "took ACCESS EXCLUSIVE".into(),
                    help: "Keep the statement that takes ACCESS EXCLUSIVE alone in its migration (nothing slow after it in the same transaction), and set a short `lock_timeout` so it waits in the lock queue briefly instead of blocking every reader.".into(),
                },
            )
        }
        "i" if before.is_none() && !kept_storage.contains(&after.filenode) => {
            // CONCURRENTLY cannot run inside a transaction: an index built inside one was not.
            let concurrent = !s.in_transaction && upper.contains("CONCURRENTLY");
            (!concurrent).then(|| Judgement {
                code: Code::L003,
                what: format!("built index {} without CONCURRENTLY (SHARE lock: writes wait)", after.name),
                help: "Build it with `CREATE INDEX CONCURRENTLY` outside a transaction (Alembic: `with op.get_context().autocommit_block(): op.create_index(..., postgresql_concurrently=True)`); for a unique or primary key constraint, build the unique index concurrently, then `ADD CONSTRAINT … USING INDEX`.".into(),
            })
        }
        "c" if after.extra.ends_with('v') && before.is_none_or(|b| !b.extra.ends_with('v')) => {
            if before.is_some() {
                // VALIDATE CONSTRAINT of a NOT VALID one takes SHARE UPDATE EXCLUSIVE, the safe
                // form, unless its own transaction already holds a lock that blocks writes
                // (the ADD … NOT VALID just before it, in the same migration).
                let (mode, line) = held?;
                let at = line.map_or_else(String::new, |l| format!(" since line {l}"));
                return Some(Judgement {
                    code: Code::L004,
                    what: format!(
                        "validated {} while its transaction held {mode}{at}",
                        after.name
                    ),
                    help: format!(
                        "Run `VALIDATE CONSTRAINT {}` in a later migration (its own transaction), so only SHARE UPDATE EXCLUSIVE is held while it scans.",
                        after.name
                    ),
                });
            }
            let (kind, lock) = if after.extra.starts_with('f') {
                ("foreign key", "SHARE ROW EXCLUSIVE on both tables")
            } else {
                ("check constraint", "ACCESS EXCLUSIVE")
            };
            Some(Judgement {
                code: Code::L004,
                what: format!("validated {kind} {} while holding {lock}", after.name),
                help: format!(
                    "Add it as `ADD CONSTRAINT {} … NOT VALID` (no scan, a short lock), then `VALIDATE CONSTRAINT {}` in a later transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on).",
                    after.name, after.name
                ),
            })
        }
        "n" if after.extra == "notnull" && before.is_some_and(|b| b.extra == "null") => {
            Some(Judgement {
                code: Code::L004,
                what: format!(
                    "scanned the table for SET NOT NULL on {} while holding ACCESS EXCLUSIVE",
                    after.name
                ),
                help: format!(
                    "Add `CHECK ({0} IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it, then `SET NOT NULL` (PostgreSQL 12+ skips the scan when a validated check proves it) and drop the check.",
                    after.name
                ),
            })
        }
        _ => None,
    }
}

/// A lock that blocks writes on `table`, taken by an earlier statement of statement `i`'s
/// transaction (and so still held): its mode and line.
fn held_earlier<'a>(
    observed: &'a [ObservedStatement],
    i: usize,
    table: &str,
) -> Option<(&'a str, Option<u32>)> {
    let s = &observed[i];
    if !s.in_transaction {
        return None;
    }
    observed[..i]
        .iter()
        .rev()
        .take_while(|o| o.in_transaction && o.revision == s.revision)
        .find_map(|o| {
            o.changes.iter().find_map(|c| {
                let a = c
                    .after
                    .as_ref()
                    .filter(|a| a.kind == "r" && a.table == table)?;
                let was = c.before.as_ref().map_or("", |b| b.extra.as_str());
                let mode = a
                    .extra
                    .split(',')
                    .find(|m| BLOCKS_WRITES.contains(m) && !has_mode(was, m))?;
                Some((mode, o.line))
            })
        })
}

fn rewrite_help(upper_sql: &str) -> String {
    if upper_sql.contains("ADD COLUMN")
        || upper_sql.contains("ADD ") && upper_sql.contains("DEFAULT")
    {
        "Add the column nullable without a volatile default (a constant default does not rewrite since PostgreSQL 11), backfill it in batches, then `SET NOT NULL` via a validated `CHECK (col IS NOT NULL)`.".into()
    } else if upper_sql.contains(" TYPE ") {
        "Add a new column of the new type, backfill it in batches (and keep it in sync with a trigger), then swap the columns in a short migration; some changes (varchar(n) -> text, a wider varchar) do not rewrite.".into()
    } else {
        "Avoid rewriting a table that holds rows under ACCESS EXCLUSIVE: create a new table or column, copy in batches, and swap in a short migration.".into()
    }
}

fn has_mode(modes: &str, mode: &str) -> bool {
    modes.split(',').any(|m| m == mode)
}

/// How many statements of the same transaction ran after statement `i` (its locks were held
/// meanwhile).
fn later_in_transaction(observed: &[ObservedStatement], i: usize) -> usize {
    let s = &observed[i];
    if !s.in_transaction {
        return 0;
    }
    observed[i + 1..]
        .iter()
        .take_while(|o| o.in_transaction && o.revision == s.revision)
        .count()
}

fn finding(s: &ObservedStatement, table: &str, j: &Judgement, later: usize) -> Finding {
    let rows = s.rows.get(table).copied().unwrap_or(0);
    let rows = if rows >= crate::observe::ROW_CAP {
        format!("at least {rows} rows")
    } else if rows == 1 {
        "1 row".to_string()
    } else {
        format!("{rows} rows")
    };
    let held = match s.held {
        Some(h) if later > 0 => format!(
            "; the lock was held {} ms more, across {later} later statement{} of the transaction",
            ms(h),
            if later == 1 { "" } else { "s" }
        ),
        Some(h) => format!("; the lock was held {} ms more, until the commit", ms(h)),
        None => String::new(),
    };
    let mut message = format!(
        "`{}` {} on {table} ({rows}) in {} ms{held}",
        short_sql(&s.sql),
        j.what,
        ms(s.duration),
    );
    if let Some(r) = &s.revision {
        message = format!("revision {r}: {message}");
    }
    let mut f = Finding::new(j.code, message).help(j.help.clone());
    if let Some(file) = &s.file {
        f = f.at(file.clone());
        if let Some(l) = s.line {
            f = f.line(l);
        }
    }
    f
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The statement on one line, at most 120 characters.
fn short_sql(sql: &str) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 120 {
        format!("{}…", one.chars().take(119).collect::<String>())
    } else {
        one
    }
}

/// The "Locks and rewrites" section: per migration, how many statements were observed and what
/// they did to tables with rows.
pub fn section(observed: &[ObservedStatement], problems: &[String]) -> Section {
    let mut per: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    let mut order = Vec::new();
    for s in observed {
        let key = s
            .file
            .clone()
            .or_else(|| s.revision.clone())
            .unwrap_or_default();
        if !per.contains_key(&key) {
            order.push(key.clone());
        }
        let e = per.entry(key).or_default();
        e.0 += 1;
        let dropped: Vec<i64> = s
            .changes
            .iter()
            .filter(|c| c.after.is_none())
            .filter_map(|c| c.before.as_ref().map(|b| b.filenode))
            .collect();
        for c in s.changes.iter().filter(|c| !c.new_in_transaction) {
            let Some(a) = &c.after else { continue };
            let rows = s.rows.get(&a.table).copied().unwrap_or(0);
            let what = match (a.kind.as_str(), &c.before) {
                ("r", Some(b)) if b.filenode != a.filenode => "rewrite".to_string(),
                ("r", b) => {
                    let was = b.as_ref().map_or("", |b| b.extra.as_str());
                    let new: Vec<&str> = a
                        .extra
                        .split(',')
                        .filter(|m| BLOCKS_WRITES.contains(m) && !has_mode(was, m))
                        .collect();
                    if new.is_empty() {
                        continue;
                    }
                    new.join("+")
                }
                ("i", None) if !dropped.contains(&a.filenode) => format!("new index {}", a.name),
                ("c", _) if a.extra.ends_with('v') => format!("validated {}", a.name),
                ("n", Some(b)) if b.extra == "null" && a.extra != "null" => {
                    format!("SET NOT NULL {}", a.name)
                }
                _ => continue,
            };
            e.1.push(format!("{} ({rows} rows): {what}", a.table));
        }
    }
    let mut text = String::new();
    let mut md = String::from("| migration | statements | on tables with rows |\n|---|---:|---|\n");
    let mut rows = Vec::new();
    for key in &order {
        let (n, what) = &per[key];
        let mut seen = what.clone();
        seen.dedup();
        let summary = if seen.is_empty() {
            "-".to_string()
        } else {
            seen.join("; ")
        };
        text.push_str(&format!("{key}: {n} statement(s); {summary}\n"));
        md.push_str(&format!(
            "| {} | {n} | {} |\n",
            gate_report::render::markdown_code(key),
            gate_report::render::markdown_escape_cell(&summary)
        ));
        rows.push(serde_json::json!({"migration": key, "statements": n, "observed": seen}));
    }
    if observed.is_empty() {
        text.push_str("no statement was observed\n");
        md.push_str("| - | 0 | no statement was observed |\n");
    }
    for p in problems {
        text.push_str(&format!("not observed: {p}\n"));
        md.push_str(&format!(
            "\nNot observed: {}\n",
            gate_report::render::markdown_escape(p)
        ));
    }
    Section {
        title: "Locks and rewrites".into(),
        text,
        markdown: md,
        data: serde_json::json!({"migrations": rows, "problems": problems}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::CatalogRow;

    fn table(filenode: i64, locks: &str) -> CatalogRow {
        CatalogRow {
            kind: "r".into(),
            oid: 1,
            name: "public.t".into(),
            filenode,
            table_oid: 1,
            table: "public.t".into(),
            extra: locks.into(),
        }
    }

    fn stmt(sql: &str, changes: Vec<Change>, rows: u64) -> ObservedStatement {
        ObservedStatement {
            sql: sql.into(),
            file: Some("v/a.py".into()),
            line: Some(7),
            revision: Some("a".into()),
            duration: Duration::from_millis(3),
            held: Some(Duration::from_millis(10)),
            in_transaction: true,
            changes,
            rows: [("public.t".to_string(), rows)].into(),
        }
    }

    fn change(before: Option<CatalogRow>, after: CatalogRow) -> Change {
        Change {
            before,
            after: Some(after),
            new_in_transaction: false,
        }
    }

    #[test]
    fn a_rewrite_of_a_table_with_rows_is_l002_at_the_statement() {
        let s = stmt(
            "ALTER TABLE t ALTER COLUMN a TYPE bigint",
            vec![change(
                Some(table(10, "")),
                table(11, "AccessExclusiveLock"),
            )],
            1000,
        );
        let f = findings(&[s], false);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::L002);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("1000 rows"), "{}", f[0].message);
        assert_eq!(f[0].line, Some(7));
        assert_eq!(findings(&[stmt("x", Vec::new(), 1)], true).len(), 0);
    }

    #[test]
    fn an_empty_table_or_one_made_in_the_transaction_is_no_finding() {
        let rewrite = || change(Some(table(10, "")), table(11, "AccessExclusiveLock"));
        assert!(findings(&[stmt("ALTER", vec![rewrite()], 0)], false).is_empty());
        let mut fresh = rewrite();
        fresh.new_in_transaction = true;
        assert!(findings(&[stmt("ALTER", vec![fresh], 5)], false).is_empty());
    }

    #[test]
    fn access_exclusive_counts_only_when_held_across_later_statements() {
        let lock = || change(Some(table(10, "")), table(10, "AccessExclusiveLock"));
        let alone = stmt("ALTER TABLE t ADD COLUMN b int", vec![lock()], 5);
        assert!(findings(std::slice::from_ref(&alone), false).is_empty());
        let backfill = stmt("UPDATE t SET b = 1", Vec::new(), 5);
        let f = findings(&[alone, backfill], true);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::L001);
        assert_eq!(f[0].severity, Severity::Error);
    }
}
