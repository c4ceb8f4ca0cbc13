//! The typed policy. Every key of DESIGN.md's policy.toml is modelled here.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use regex::Regex;
use serde::Deserialize;

use crate::{Diagnostic, PolicyError};

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
    /// Command that applies the fix to $DATABASE_URL.
    pub run: Option<String>,
    /// Alternatively a SQL file that applies the fix.
    pub sql: Option<String>,
    pub rollback: Option<String>,
    /// Line of the `[[emergency.script]]` header in policy.toml (1-based), so findings can
    /// point back at the entry.
    pub line: u32,
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
    /// Expected schema at head, repository-relative. Default `schema.snapshot.json`.
    pub snapshot: String,
    pub fixes: bool,
    pub slow_ms: u64,
    pub timeout_s: u64,
}

// ---------------------------------------------------------------------------------------
// Quick serde loader (first cut; replaced by the span-keeping validator).

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    version: u32,
    #[serde(default)]
    migrations: RawMigrations,
    #[serde(default)]
    emergency: RawEmergency,
    #[serde(default)]
    governance: RawGovernance,
    #[serde(default)]
    replay: RawReplay,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMigrations {
    kind: Option<MigrationKind>,
    path: Option<String>,
    config: Option<String>,
    naming: Option<SqlNaming>,
    upgrade: Option<String>,
    downgrade: Option<String>,
    lockfile: Option<String>,
    max_heads: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEmergency {
    scope: Option<Vec<String>>,
    names: Option<Vec<String>>,
    ddl: Option<bool>,
    ignore: Option<Vec<String>>,
    #[serde(default)]
    script: Vec<toml::Spanned<RawScript>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawScript {
    path: String,
    sha256: Option<String>,
    reason: Option<String>,
    ticket: Option<String>,
    author: Option<String>,
    approved_by: Option<String>,
    approved_on: Option<toml::value::Datetime>,
    convert_by: Option<toml::value::Datetime>,
    status: Option<ScriptStatus>,
    converted_in: Option<String>,
    applied_after: Option<String>,
    run: Option<String>,
    sql: Option<String>,
    rollback: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGovernance {
    approvers: Option<Vec<String>>,
    ticket: Option<String>,
    convert_within_days: Option<u32>,
    four_eyes: Option<bool>,
    trailer: Option<String>,
    require_signed: Option<bool>,
    require_rollback: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawReplay {
    backend: Option<Backend>,
    image: Option<String>,
    python: Option<String>,
    prelude: Option<String>,
    roundtrip: Option<bool>,
    snapshot: Option<String>,
    fixes: Option<bool>,
    slow_ms: Option<u64>,
    timeout_s: Option<u64>,
}

pub(crate) const DEFAULT_NAMES: &[&str] = &[
    "(?i)emergency",
    "(?i)(^|[_-])fix",
    "(?i)repair",
    "(?i)hotfix",
];

fn line_of(text: &str, offset: usize) -> u32 {
    text[..offset.min(text.len())].matches('\n').count() as u32 + 1
}

fn date(d: Option<toml::value::Datetime>) -> Option<NaiveDate> {
    let d = d?.date?;
    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
}

pub(crate) fn parse_quick(text: &str, file: &Path) -> Result<Policy, PolicyError> {
    let invalid = |message: String, line: Option<u32>| {
        let d = Diagnostic {
            file: file.to_path_buf(),
            line,
            column: None,
            message,
        };
        PolicyError::Invalid {
            rendered: d.to_string(),
            diagnostics: vec![d],
        }
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        invalid(e.message().to_string(), line)
    })?;
    let regex =
        |s: &str| Regex::new(s).map_err(|e| invalid(format!("invalid regex `{s}`: {e}"), None));
    let names = match raw.emergency.names {
        Some(n) => n.iter().map(|s| regex(s)).collect::<Result<Vec<_>, _>>()?,
        None => DEFAULT_NAMES
            .iter()
            .map(|s| regex(s))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let ignore = raw
        .emergency
        .ignore
        .unwrap_or_else(|| vec!["setup.py".into(), "conftest.py".into()]);
    let mut b = globset::GlobSetBuilder::new();
    for g in &ignore {
        b.add(
            globset::Glob::new(g).map_err(|e| invalid(format!("invalid glob `{g}`: {e}"), None))?,
        );
    }
    let ignore_set = b.build().map_err(|e| invalid(e.to_string(), None))?;
    let scope = raw
        .emergency
        .scope
        .unwrap_or_else(|| vec![".".into()])
        .into_iter()
        .map(|s| parse_scope(&s))
        .collect();
    let scripts = raw
        .emergency
        .script
        .into_iter()
        .map(|sp| {
            let line = line_of(text, sp.span().start);
            let s = sp.into_inner();
            Script {
                path: s.path.trim_start_matches("./").to_string(),
                sha256: s.sha256,
                reason: s.reason,
                ticket: s.ticket,
                author: s.author,
                approved_by: s.approved_by,
                approved_on: date(s.approved_on),
                convert_by: date(s.convert_by),
                status: s.status.unwrap_or_default(),
                converted_in: s.converted_in,
                applied_after: s.applied_after,
                run: s.run,
                sql: s.sql,
                rollback: s.rollback,
                line,
            }
        })
        .collect();
    let m = raw.migrations;
    let g = raw.governance;
    let r = raw.replay;
    Ok(Policy {
        version: raw.version,
        migrations: Migrations {
            kind: m.kind.unwrap_or(MigrationKind::Alembic),
            path: m.path.unwrap_or_else(|| "alembic/versions".into()),
            config: m.config.unwrap_or_else(|| "alembic.ini".into()),
            naming: m.naming.unwrap_or(SqlNaming::GolangMigrate),
            upgrade: m.upgrade.unwrap_or_default(),
            downgrade: m.downgrade.unwrap_or_default(),
            lockfile: m.lockfile.unwrap_or_else(|| "migrations.lock".into()),
            max_heads: m.max_heads.unwrap_or(1),
        },
        emergency: Emergency {
            scope,
            names,
            ddl: raw.emergency.ddl.unwrap_or(true),
            ignore,
            ignore_set,
            scripts,
        },
        governance: Governance {
            approvers: g.approvers.unwrap_or_default(),
            ticket: regex(g.ticket.as_deref().unwrap_or("^(INC|OPS)-[0-9]+$"))?,
            convert_within_days: g.convert_within_days.unwrap_or(14),
            four_eyes: g.four_eyes.unwrap_or(true),
            trailer: g.trailer.unwrap_or_else(|| "Approved-by".into()),
            require_signed: g.require_signed.unwrap_or(false),
            require_rollback: g.require_rollback.unwrap_or(true),
        },
        replay: Replay {
            backend: r.backend.unwrap_or(Backend::Auto),
            image: r.image.unwrap_or_else(|| "postgres:16-alpine".into()),
            python: r.python.unwrap_or_else(|| "python3".into()),
            prelude: r.prelude.unwrap_or_default(),
            roundtrip: r.roundtrip.unwrap_or(true),
            snapshot: r.snapshot.unwrap_or_else(|| "schema.snapshot.json".into()),
            fixes: r.fixes.unwrap_or(true),
            slow_ms: r.slow_ms.unwrap_or(5000),
            timeout_s: r.timeout_s.unwrap_or(900),
        },
        file: file.to_path_buf(),
    })
}

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
