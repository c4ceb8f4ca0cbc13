//! How each tool names its migration files and compares and records their versions.

use std::cmp::Ordering;
use std::sync::LazyLock;

use gate_policy::SqlNaming;
use regex::Regex;

// golang-migrate's own pattern (`source/parse.go`): `^([0-9]+)_(.*)\.(down|up)\.(.*)$`.
static GOLANG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+)_(.*)\.(down|up)\.sql$").expect("static regex"));
// Flyway: V<version>__<desc>.sql, U<version>__<desc>.sql (undo), R__<desc>.sql (repeatable);
// version parts separated by `.` or `_`.
static FLYWAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([VU])([0-9]+(?:[._][0-9]+)*)__(.*)\.sql$").expect("static regex")
});
pub(super) static FLYWAY_R: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^R__(.*)\.sql$").expect("static regex"));
// sqlx: `<VERSION>_<DESCRIPTION>.sql`, or reversible `.up.sql` / `.down.sql`.
static SQLX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+)_(.*?)(?:\.(up|down))?\.sql$").expect("static regex"));
// dbmate: any `.sql` file whose name starts with digits; the version is the digits.
static DBMATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]+)(.*)\.sql$").expect("static regex"));

/// A version key that compares numerically part by part (`1.2` < `1.10`, `1` == `1.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VersionKey(pub(super) Vec<u128>);

impl VersionKey {
    pub(super) fn parse(v: &str) -> Self {
        let mut parts: Vec<u128> = v
            .split(['.', '_'])
            .map(|p| {
                // Versions longer than u128 are absurd; saturate rather than fail.
                p.trim_start_matches('0').parse::<u128>().unwrap_or(
                    if p.chars().all(|c| c == '0') {
                        0
                    } else {
                        u128::MAX
                    },
                )
            })
            .collect();
        while parts.len() > 1 && parts.last() == Some(&0) {
            parts.pop();
        }
        VersionKey(parts)
    }
}

impl Ord for VersionKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for VersionKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The version as the tool records it (see [`SqlMigration::recorded_version`]).
pub(super) fn recorded_version(naming: SqlNaming, version: &str) -> String {
    match naming {
        // Both parse the digits as an integer; a number too large stays as written.
        SqlNaming::GolangMigrate | SqlNaming::Sqlx => version
            .parse::<u64>()
            .map_or_else(|_| version.to_string(), |v| v.to_string()),
        SqlNaming::Flyway => version.replace('_', "."),
        SqlNaming::Dbmate | SqlNaming::Plain => version.to_string(),
    }
}

/// A versioned file's (version, description, is it the down/undo file), or `None` when the
/// name does not follow the tool's convention (the file is not a migration). Flyway's
/// repeatables (`R__`) and plain folders have no version and are grouped apart.
pub(super) fn versioned(naming: SqlNaming, name: &str) -> Option<(String, String, bool)> {
    match naming {
        SqlNaming::GolangMigrate => GOLANG
            .captures(name)
            .map(|c| (c[1].to_string(), c[2].to_string(), &c[3] == "down")),
        SqlNaming::Sqlx => SQLX.captures(name).map(|c| {
            (
                c[1].to_string(),
                c[2].to_string(),
                c.get(3).is_some_and(|m| m.as_str() == "down"),
            )
        }),
        SqlNaming::Dbmate => DBMATE.captures(name).map(|c| {
            (
                c[1].to_string(),
                c[2].trim_start_matches('_').to_string(),
                false,
            )
        }),
        SqlNaming::Flyway => FLYWAY
            .captures(name)
            .map(|c| (c[2].to_string(), c[3].to_string(), &c[1] == "U")),
        SqlNaming::Plain => None,
    }
}
