//! The consolidation of a SQL chain (`migrations.kind = "sql"`) as files in the folder's own
//! naming: the next version after the head (the head's scheme kept: a 14-digit timestamp
//! gets the next second, a number or dotted version its last part plus one, zero padding
//! kept), and a down file only where the naming has them (golang-migrate pairs; sqlx and
//! Flyway when the folder already uses `.down.sql` / `U` files; dbmate's down section).

use gate_policy::SqlNaming;
use gate_recovery::consolidate::{Plan, render_sql};

/// One file to write: repository-relative path and text.
pub(crate) type File = (String, String);

/// The files of one SQL migration: the up file, and its down file when the naming has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlFiles {
    pub up: File,
    pub down: Option<File>,
}

const DESCRIPTION: &str = "consolidate_emergency_fixes";

/// The version after `last` in the same scheme.
pub(crate) fn next_version(last: &str) -> Result<String, String> {
    if last.len() == 14
        && last.bytes().all(|b| b.is_ascii_digit())
        && let Ok(t) = chrono::NaiveDateTime::parse_from_str(last, "%Y%m%d%H%M%S")
    {
        return Ok((t + chrono::Duration::seconds(1))
            .format("%Y%m%d%H%M%S")
            .to_string());
    }
    let start = last
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let digits = &last[start..];
    let n: u128 = digits
        .parse()
        .map_err(|_| format!("the head's version `{last}` does not end in a number"))?;
    let next = (n + 1).to_string();
    let width = digits.len().max(next.len());
    Ok(format!("{}{next:0>width$}", &last[..start]))
}

/// The new migration's files in `folder`, version `version`.
pub(crate) fn new_files(
    naming: SqlNaming,
    folder: &str,
    version: &str,
    with_down: bool,
    plan: &Plan,
) -> Result<SqlFiles, String> {
    let folder = folder.trim_end_matches('/');
    let (up, down) = render_sql(plan);
    let pair = |up_name: String, down_name: String| SqlFiles {
        up: (format!("{folder}/{up_name}"), up.clone()),
        down: with_down.then(|| (format!("{folder}/{down_name}"), down.clone())),
    };
    Ok(match naming {
        SqlNaming::GolangMigrate => pair(
            format!("{version}_{DESCRIPTION}.up.sql"),
            format!("{version}_{DESCRIPTION}.down.sql"),
        ),
        SqlNaming::Sqlx if with_down => pair(
            format!("{version}_{DESCRIPTION}.up.sql"),
            format!("{version}_{DESCRIPTION}.down.sql"),
        ),
        SqlNaming::Sqlx => pair(format!("{version}_{DESCRIPTION}.sql"), String::new()),
        SqlNaming::Flyway => pair(
            format!("V{version}__{DESCRIPTION}.sql"),
            format!("U{version}__{DESCRIPTION}.sql"),
        ),
        SqlNaming::Dbmate => SqlFiles {
            up: (
                format!("{folder}/{version}_{DESCRIPTION}.sql"),
                dbmate(&up, &down),
            ),
            down: None,
        },
        SqlNaming::Plain => return Err(PLAIN.into()),
    })
}

pub(crate) const PLAIN: &str = "migrations.naming = \"plain\" records no version, so production's position (and a next file) cannot be told; name the folder's tool in migrations.naming";

/// One dbmate file: the up section (run outside a transaction when a new enum label must be
/// committed before use) and the down section.
fn dbmate(up: &str, down: &str) -> String {
    let option = if up.contains("\n-- gate:no-transaction\n") {
        " transaction:false"
    } else {
        ""
    };
    format!("-- migrate:up{option}\n{up}\n-- migrate:down\n{down}")
}

/// The amended files of one SQL migration (its up file, and its down file or dbmate section
/// when it has one), the guarded plan in place of the statements, headed by why.
pub(crate) fn amended(
    naming: SqlNaming,
    up_file: &str,
    down_file: Option<&str>,
    plan: &Plan,
    fixes: &[String],
) -> SqlFiles {
    let why = format!(
        "-- Amended by gate-replay consolidate: guarded against emergency fix {} (F003);\n-- each statement is a no-op where the fix already ran.\n",
        fixes.join(", ")
    );
    let (up, down) = render_sql(plan);
    if naming == SqlNaming::Dbmate {
        return SqlFiles {
            up: (up_file.to_string(), format!("{why}{}", dbmate(&up, &down))),
            down: None,
        };
    }
    SqlFiles {
        up: (up_file.to_string(), format!("{why}{up}")),
        down: down_file
            .filter(|d| *d != up_file)
            .map(|d| (d.to_string(), format!("{why}{down}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_recovery::consolidate::GuardedStatement;

    #[test]
    fn the_next_version_keeps_the_scheme() {
        assert_eq!(next_version("0003").unwrap(), "0004");
        assert_eq!(next_version("0099").unwrap(), "0100");
        assert_eq!(next_version("9").unwrap(), "10");
        assert_eq!(next_version("1_2").unwrap(), "1_3");
        assert_eq!(next_version("2.9").unwrap(), "2.10");
        assert_eq!(next_version("20250101120000").unwrap(), "20250101120001");
        assert_eq!(next_version("20251231235959").unwrap(), "20260101000000");
        assert!(next_version("abc").is_err());
    }

    fn plan() -> Plan {
        Plan {
            upgrade: vec![GuardedStatement {
                object: "enum public.role".into(),
                sql: "DO $gate$ BEGIN ALTER TYPE \"public\".\"role\" ADD VALUE IF NOT EXISTS 'x'; END $gate$;".into(),
            }],
            downgrade: vec![],
            left: vec![],
        }
    }

    #[test]
    fn each_tool_names_the_new_files_its_way() {
        let names = |naming, down| {
            let f = new_files(naming, "db/", "0004", down, &plan()).unwrap();
            (f.up.0, f.down.map(|d| d.0))
        };
        assert_eq!(
            names(SqlNaming::GolangMigrate, true),
            (
                "db/0004_consolidate_emergency_fixes.up.sql".into(),
                Some("db/0004_consolidate_emergency_fixes.down.sql".into())
            )
        );
        assert_eq!(
            names(SqlNaming::Sqlx, false),
            ("db/0004_consolidate_emergency_fixes.sql".into(), None)
        );
        assert_eq!(
            names(SqlNaming::Flyway, true),
            (
                "db/V0004__consolidate_emergency_fixes.sql".into(),
                Some("db/U0004__consolidate_emergency_fixes.sql".into())
            )
        );
        let dbmate = new_files(SqlNaming::Dbmate, "db", "20250101120001", true, &plan()).unwrap();
        assert_eq!(dbmate.down, None);
        assert!(
            dbmate.up.1.starts_with("-- migrate:up transaction:false\n"),
            "{}",
            dbmate.up.1
        );
        assert!(dbmate.up.1.contains("\n-- migrate:down\n"));
        assert!(new_files(SqlNaming::Plain, "db", "1", false, &plan()).is_err());
    }

    #[test]
    fn an_amended_pair_rewrites_both_files() {
        let f = amended(
            SqlNaming::GolangMigrate,
            "m/0002_x.up.sql",
            Some("m/0002_x.down.sql"),
            &plan(),
            &["fixes/a.sql".into()],
        );
        assert!(f.up.1.starts_with("-- Amended by gate-replay consolidate"));
        assert!(f.up.1.contains("ADD VALUE IF NOT EXISTS 'x'"));
        assert_eq!(f.down.unwrap().0, "m/0002_x.down.sql");
    }
}
