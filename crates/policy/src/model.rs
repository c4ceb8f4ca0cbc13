//! The typed policy. Every key of DESIGN.md's policy.toml is modelled here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use regex::Regex;
use serde::Deserialize;

/// A validated policy.toml.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Schema version of the policy file; only `1` exists.
    pub version: u32,
    pub migrations: Migrations,
    pub emergency: Emergency,
    pub governance: Governance,
    pub replay: Replay,
    /// Where the policy was read from, for findings that point back at it.
    pub file: PathBuf,
    /// 1-based line of every key set in the file, by dotted name (`migrations.max-heads`,
    /// `governance.approvers`), so a finding can say which policy line required something.
    /// Registry entries keep their own lines in [`Script::key_lines`].
    pub key_lines: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationKind {
    Alembic,
    Sql,
    Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SqlNaming {
    GolangMigrate,
    Flyway,
    Sqlx,
    Dbmate,
    Plain,
}

/// `[migrations]`
#[derive(Debug, Clone)]
pub struct Migrations {
    /// alembic | sql | command. Default: alembic.
    pub kind: MigrationKind,
    /// Repository-relative migrations folder. Default: `alembic/versions`.
    pub path: String,
    /// Alembic config file, repository-relative. Default: `alembic.ini`.
    pub config: String,
    /// SQL file naming scheme (sql only). Default: golang-migrate.
    pub naming: SqlNaming,
    /// Upgrade command (command only), run with DATABASE_URL set.
    pub upgrade: String,
    /// Downgrade command (command only, optional; empty = none).
    pub downgrade: String,
    /// Lockfile of released migrations, repository-relative. Default: `migrations.lock`.
    pub lockfile: String,
    /// More heads than this is C003. Default: 1.
    pub max_heads: usize,
}

/// One entry of `emergency.scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Repository-relative folder with `/` separators; `""` is the repository root.
    pub dir: String,
    /// `true` for `dir/**`: the folder and everything below it.
    pub recursive: bool,
}

impl Scope {
    /// Whether a repository-relative file path (with `/`) lies in this scope.
    pub fn contains(&self, path: &str) -> bool {
        let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
        if self.recursive {
            self.dir.is_empty()
                || parent == self.dir
                || parent.starts_with(&format!("{}/", self.dir))
        } else {
            parent == self.dir
        }
    }
}

/// `[emergency]`
#[derive(Debug, Clone)]
pub struct Emergency {
    /// Folders where unregistered emergency scripts are rejected. Default: `["."]`.
    pub scope: Vec<Scope>,
    /// Name patterns that make a file an emergency script (matched against the file name).
    pub names: Vec<Regex>,
    /// Also reject files in scope whose text runs DDL. Default: true.
    pub ddl: bool,
    /// Globs (repository-relative, or bare file names) never treated as emergency scripts.
    pub ignore: Vec<String>,
    /// Compiled form of `ignore`.
    pub ignore_set: globset::GlobSet,
    /// File types (extensions, without the dot, lowercase) judged as scripts. Other files in
    /// scope (reports, notes, data) are never candidates. Default [`DEFAULT_EXTENSIONS`].
    pub extensions: Vec<String>,
    /// The registry: `[[emergency.script]]`.
    pub scripts: Vec<Script>,
}

impl Emergency {
    /// Whether `path` (repository-relative) is matched by `emergency.ignore`.
    pub fn is_ignored(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.ignore_set.is_match(path) || self.ignore_set.is_match(name)
    }

    /// Whether the file name of `path` matches one of `emergency.names`.
    pub fn name_matches(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.names.iter().any(|r| r.is_match(name))
    }

    /// Whether `path` has one of `emergency.extensions` (case-insensitive). Files without an
    /// extension are scripts only when a shebang says so, which callers check on the content.
    pub fn has_script_extension(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => {
                let ext = ext.to_ascii_lowercase();
                self.extensions.contains(&ext)
            }
            _ => false,
        }
    }

    /// The registry entry for `path`, if any.
    pub fn script(&self, path: &str) -> Option<&Script> {
        self.scripts.iter().find(|s| s.path == path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptStatus {
    #[default]
    Active,
    Legacy,
    Converted,
    Retired,
}

impl ScriptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptStatus::Active => "active",
            ScriptStatus::Legacy => "legacy",
            ScriptStatus::Converted => "converted",
            ScriptStatus::Retired => "retired",
        }
    }
}

/// One `[[emergency.script]]` registry entry. Governance fields are optional here because
/// `gate-approve` reports missing ones as A001 rather than refusing to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Repository-relative path with `/` separators.
    pub path: String,
    pub sha256: Option<String>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub author: Option<String>,
    pub approved_by: Option<String>,
    pub approved_on: Option<NaiveDate>,
    pub convert_by: Option<NaiveDate>,
    pub status: ScriptStatus,
    pub converted_in: Option<String>,
    pub applied_after: Option<String>,
    /// When production ran the fix: orders fixes that share an `applied-after`.
    pub applied_on: Option<NaiveDate>,
    /// Arguments appended to `run` (each passed as one word, never through a shell).
    pub args: Vec<String>,
    /// Command that applies the fix to $DATABASE_URL.
    pub run: Option<String>,
    /// Alternatively a SQL file that applies the fix.
    pub sql: Option<String>,
    pub rollback: Option<String>,
    /// Line of the `[[emergency.script]]` header in policy.toml (1-based), so findings can
    /// point back at the entry.
    pub line: u32,
    /// 1-based line of each key of the entry (`sha256`, `approved-by`, ...), by its kebab-case
    /// name, so findings can point at the key rather than the header.
    pub key_lines: BTreeMap<String, u32>,
}

impl Script {
    /// Line of `key` in this entry, falling back to the entry's header line.
    pub fn line_of(&self, key: &str) -> u32 {
        self.key_lines.get(key).copied().unwrap_or(self.line)
    }
}

/// `[governance]`
#[derive(Debug, Clone)]
pub struct Governance {
    /// Technical leads allowed to approve (emails).
    pub approvers: Vec<String>,
    /// Ticket reference format.
    pub ticket: Regex,
    /// Deadline, in days after approval, to turn a fix into a migration. Default 14.
    pub convert_within_days: u32,
    /// Approver must not be the author. Default true.
    pub four_eyes: bool,
    /// Commit trailer that records the approval in git. Default `Approved-by`.
    pub trailer: String,
    /// The approving commit must be signed. Default false.
    pub require_signed: bool,
    /// Entries must carry a rollback. Default true.
    pub require_rollback: bool,
    /// How pull requests land on the default branch; decides whether a merge commit's
    /// branch commits can approve what it brings in. Default `merge`.
    pub merge_method: MergeMethod,
}

/// `governance.merge-method`: how changes land, so the pull request's check judges the
/// commit that will carry the change after the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeMethod {
    /// Merge commits: a branch's own commits land and approve what the merge brings in.
    #[default]
    Merge,
    /// Squash merges: one new commit lands, so a merge commit is judged by itself.
    Squash,
    /// Rebase merges: the commits are re-committed, so a merge commit is judged by itself.
    Rebase,
}

impl MergeMethod {
    /// The value as written in policy.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Auto,
    Docker,
    Local,
    Url,
}

/// `[replay]`
#[derive(Debug, Clone)]
pub struct Replay {
    pub backend: Backend,
    /// Docker image for the docker backend. Default `postgres:16-alpine`.
    pub image: String,
    /// Interpreter that has alembic installed. Default `python3`.
    pub python: String,
    /// SQL run before the first migration.
    pub prelude: String,
    pub roundtrip: bool,
    /// Per revision: upgrade, downgrade one step, upgrade again (R007). Default false.
    pub stairway: bool,
    /// Alembic's own model comparison (`alembic check`) at head (R008). Default false.
    pub models: bool,
    /// Seed representative rows before each migration and replay the chain on them (R009),
    /// observing what each statement does to them (L0xx locks and rewrites). Default false.
    pub data: bool,
    /// Rows per table the seeded pass keeps (`--rows`). Default [`DEFAULT_SEED_ROWS`].
    pub rows: u64,
    /// Expected schema at head, repository-relative. Default `schema.snapshot.json`.
    pub snapshot: String,
    pub fixes: bool,
    pub slow_ms: u64,
    pub timeout_s: u64,
    /// Form of the scratch URL handed to env.py and fixes as DATABASE_URL, with the
    /// placeholders `{user}`, `{password}`, `{host}`, `{port}`, `{database}`.
    /// Default [`DEFAULT_DATABASE_URL`] (SQLAlchemy 2.x refuses `postgres://`).
    pub database_url: String,
    /// Extra environment for env.py and fix commands, in file order. Values may name the
    /// gate's own environment as `${VAR}`; every value is a secret (redacted in all output).
    pub env: Vec<(String, String)>,
}

/// Upper bound of `replay.timeout-s` and `--timeout`: 7 days. Larger values would overflow
/// the clock arithmetic; no replay legitimately runs longer.
pub const MAX_TIMEOUT_S: u64 = 7 * 24 * 3600;

/// Rows per table the seeded pass (R009) keeps when `replay.rows` / `--rows` is not set: enough
/// for duplicates and NULLs in columns that allow them.
pub const DEFAULT_SEED_ROWS: u64 = 3;

/// Upper bound of `replay.rows` / `--rows`: a representative sample, not a load test.
pub const MAX_SEED_ROWS: u64 = 10_000;

/// The scratch URL form when `replay.database-url` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgresql://{user}:{password}@{host}:{port}/{database}";

/// Placeholders `replay.database-url` may use.
pub const DATABASE_URL_PLACEHOLDERS: &[&str] = &["user", "password", "host", "port", "database"];

/// Variables the replay itself sets for its children; `replay.env` may not set them.
pub const RESERVED_ENV: &[&str] = &[
    "DATABASE_URL",
    "GATE_DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGOPTIONS",
];

/// File types judged as scripts when `emergency.extensions` is not set.
pub const DEFAULT_EXTENSIONS: &[&str] = &["py", "sql", "sh", "bash", "js", "ts", "rb", "pl"];

pub(crate) const DEFAULT_NAMES: &[&str] = &[
    "(?i)emergency",
    "(?i)(^|[_-])fix",
    "(?i)repair",
    "(?i)hotfix",
];

/// `"."` -> root, non-recursive; `"scripts/**"` -> scripts, recursive; `"**"` -> everything.
pub fn parse_scope(s: &str) -> Scope {
    let s = s.trim().trim_start_matches("./");
    let (dir, recursive) = match s.strip_suffix("/**").or_else(|| (s == "**").then_some("")) {
        Some(d) => (d, true),
        None => (s.trim_end_matches('/'), false),
    };
    let dir = if dir == "." { "" } else { dir };
    Scope {
        dir: dir.to_string(),
        recursive,
    }
}
